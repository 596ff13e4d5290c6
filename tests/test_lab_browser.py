"""The full-loop lesson in a real JupyterLab, in headless Chromium: run every cell, move the
step slider, check the frame changes. Screenshots land in screenshots/ (git-ignored)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import browser_page, screenshot

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TOKEN = "explainer-test"


KERNEL_READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""
EXECUTION_STARTED = """() => [...document.querySelectorAll('.jp-InputPrompt')]
    .some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on localhost over a copy of the full-loop lesson (so nothing is saved)."""
    shutil.copy(NOTEBOOKS / "07_full_loop.ipynb", tmp_path / "07_full_loop.ipynb")
    # JupyterLab 4 skips rendering cells out of view by default ("contentVisibility"), and Run
    # All scrolls to the last cell, so the player above would never count as visible and the
    # Traceback check below would miss cells; render every cell instead.
    settings = tmp_path / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.open_browser=False", "--allow-root",
         f"--LabApp.user_settings_dir={tmp_path / '.settings'}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True"],       # window.jupyterapp, to see the kernel
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start within 60 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_full_loop_slider_moves_through_steps(lab):
    with browser_page() as page:
        page.goto(f"{lab}/lab/tree/07_full_loop.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # Run All before the kernel's websocket is up runs nothing (every prompt stays "[ ]"),
        # so wait until the notebook's kernel is connected and idle, as a person would
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(EXECUTION_STARTED, timeout=30_000)
        except Exception:
            screenshot(page, "lab-full-loop-not-started.png")
            raise AssertionError("Run All Cells started nothing; prompts: "
                                 f"{page.locator('.jp-InputPrompt').all_inner_texts()}") from None
        # the player's slider appears when its cell has run; the last cell prints the GIF
        page.wait_for_selector(".jp-OutputArea .widget-slider", timeout=240_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(e => e.textContent.includes('denoising.gif with'))", timeout=240_000)
        assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
        slider = page.locator(".jp-OutputArea .widget-slider").first
        slider.scroll_into_view_if_needed()
        readout = slider.locator(".widget-readout")
        caption = page.locator(".jp-OutputArea .explainer-step-caption").first
        frame = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]//img").first
        before_step, before_src = readout.inner_text(), frame.get_attribute("src")
        assert before_step == "12"          # the cell after the player set it from code
        assert caption.inner_text().startswith("step 12 ")
        screenshot(page, "lab-full-loop-step12.png")
        slider.locator(".noUi-handle").first.click()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("(el) => el.textContent.trim() === '17'",
                               arg=readout.element_handle(), timeout=30_000)
        # the kernel rendered step 17 (its caption), and the browser shows a new frame
        page.wait_for_function("(el) => el.textContent.startsWith('step 17 ')",
                               arg=caption.element_handle(), timeout=60_000)
        page.wait_for_function("([el, old]) => el.getAttribute('src') !== old",
                               arg=[frame.element_handle(), before_src], timeout=30_000)
        screenshot(page, "lab-full-loop-step17.png")
