"""The explain page in headless Chromium with networking off: every picture decodes, the
animation plays, nothing errors. A screenshot lands in screenshots/report.png."""

from __future__ import annotations

import base64
import io
import re

import pytest

from browser import browser_page, screenshot
from explainer.cli import main
from explainer.report import SECTIONS


@pytest.fixture(scope="module")
def page_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "report"
    assert main(["explain", "a small red circle on the left", "--out", str(out), "--steps",
                 "10", "--quiet"]) == 0
    return out / "index.html"


def test_the_page_in_a_browser_offline(page_path):
    from PIL import Image

    html = page_path.read_text(encoding="utf-8")
    gif = re.search(r'id="animation"[^>]*src="data:image/gif;base64,([^"]+)"', html)
    assert gif, "the animation is not an embedded GIF"
    assert Image.open(io.BytesIO(base64.b64decode(gif[1]))).n_frames > 1
    errors = []
    with browser_page(offline=True) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) >= 7
        assert all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
        ids = page.eval_on_selector_all("section", "s => s.map(x => x.id)")
        assert ids == list(SECTIONS)
        screenshot(page, "report.png")
        page.locator("#animation").scroll_into_view_if_needed()   # Chromium animates on screen
        animation = page.locator("#animation")       # (a canvas would show frame 0 only)
        frames = {animation.screenshot()}
        for _ in range(20):                                  # 8 frames per second
            page.wait_for_timeout(150)
            frames.add(animation.screenshot())
            if len(frames) > 2:
                break
        assert len(frames) > 2, "the animation does not advance"
        screenshot(page, "report-denoising.png")
    assert errors == []
