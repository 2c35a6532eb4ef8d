"""A real browser: JupyterLab on 127.0.0.1 with a token, the teaching notebook opened in headless
Chromium (Debian's chromium, driven by Playwright), 'Run All Cells' through the UI, kernel idle,
figures rendered, no error, a screenshot saved.

Skipped in the default run (it needs Debian's chromium and takes minutes); run it with
    PKD_BROWSER_TEST=1 ./run_tests.sh tests/test_browser.py
which installs what it needs (apt chromium, pip playwright) when it can, and skips with the reason
when it cannot. Screenshots go to results/browser/.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"


def _ensure_tools():
    if os.environ.get("PKD_BROWSER_TEST") != "1":
        pytest.skip("browser test: run `PKD_BROWSER_TEST=1 ./run_tests.sh tests/test_browser.py` "
                    "(needs Debian's chromium; installs it and playwright when it can)")
    if not Path(CHROMIUM).exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, capture_output=True)
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium) and could not be installed")
    try:
        import playwright  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "playwright"], check=False)
    pytest.importorskip("playwright.sync_api", reason="pip install playwright failed")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(1200)
def test_teaching_notebook_runs_in_jupyterlab(tmp_path):
    _ensure_tools()
    from playwright.sync_api import sync_playwright
    port, token = _free_port(), "pkd-test-token"
    # a copy of the notebook, so the UI run does not write outputs into the repository
    nbdir = tmp_path / "lab"
    (nbdir / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "00_teaching.ipynb", nbdir / "notebooks")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                            f"--ServerApp.root_dir={nbdir}", "--ServerApp.open_browser=False"],
                           cwd=nbdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        t = time.time()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() - t < 120, "JupyterLab did not start"
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/00_teaching.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                                   "#jp-main-statusbar :text('Idle')", timeout=120_000)
            page.click("text=Run", timeout=30_000)          # the Run menu
            page.click("text=Run All Cells", timeout=30_000)
            time.sleep(5)
            t = time.time()
            while True:  # every code cell has an execution count and none is running
                prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")
                if prompts and all(pr.strip() not in ("[*]:", "[ ]:", "") for pr in prompts):
                    break
                assert time.time() - t < 900, f"cells still running: {prompts}"
                time.sleep(3)
            page.screenshot(path=str(shots / "teaching_top.png"))
            errors = page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] "
                                             ":text('Traceback')")
            images = page.query_selector_all(".jp-OutputArea-output img")
            page.keyboard.press("Control+End")
            page.evaluate("document.querySelector('.jp-WindowedPanel-outer, .jp-Notebook').scrollTop = 1e9")
            time.sleep(1)
            page.screenshot(path=str(shots / "teaching_bottom.png"))
            browser.close()
        assert not errors, "a cell shows a traceback"
        assert len(images) >= 4, f"only {len(images)} figures rendered"
        dest = ROOT / "results" / "browser"
        dest.mkdir(parents=True, exist_ok=True)
        for s in shots.iterdir():
            shutil.copy(s, dest / s.name)
    finally:
        lab.terminate()
        lab.wait(timeout=30)
