"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

``make test`` installs both (chromium through apt when it is missing, Playwright's Python
client through pip). Screenshots go to ``screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("the browser tests need Debian's chromium: `make test` installs it "
                           "(apt-get install chromium)")
    return path


@contextmanager
def browser_page(offline: bool = False):
    """A Playwright page in headless Chromium; ``offline`` turns networking off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        if offline:
            context.set_offline(True)
        page = context.new_page()
        try:
            yield page
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=False)
    return path
