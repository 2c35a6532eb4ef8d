"""A real browser: JupyterLab on 127.0.0.1 with a token, the teaching notebook opened in headless
Chromium (Debian's chromium, driven by Playwright), 'Run All Cells' through the UI, kernel idle,
figures rendered, no error, a screenshot saved.

Skipped in the default run (it needs Debian's chromium and takes minutes); run it with
    PKD_BROWSER_TEST=1 ./run_tests.sh tests/test_browser.py
which installs what it needs (apt chromium, pip playwright) when it can, and skips with the reason
when it cannot. Screenshots go to a scratch folder; PKD_BROWSER_REFRESH=1 replaces the committed ones in
results/browser/.
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
        pytest.skip(
            "browser test: run `PKD_BROWSER_TEST=1 ./run_tests.sh tests/test_browser.py` "
            "(needs Debian's chromium; installs it and playwright when it can)"
        )
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


def _wait_port(port, proc, seconds=120):
    t = time.time()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, f"JupyterLab exited: {proc.stdout.read().decode()[-2000:]}"
            assert time.time() - t < seconds, "JupyterLab did not start"
            time.sleep(1)


@pytest.mark.timeout(1500)
def test_teaching_notebook_runs_in_jupyterlab(tmp_path):
    _ensure_tools()
    import nbformat
    from playwright.sync_api import sync_playwright

    port, token = _free_port(), "pkd-test-token"
    # a copy of the notebook, so the UI run does not write outputs into the repository; without the
    # project's results/ beside it, the notebook fine-tunes its own small teacher (about a minute)
    nbdir = tmp_path / "lab"
    (nbdir / "notebooks").mkdir(parents=True)
    nb_path = nbdir / "notebooks" / "00_teaching.ipynb"
    shutil.copy(ROOT / "notebooks" / "00_teaching.ipynb", nb_path)
    # render every cell (no windowing), so the page holds all outputs to check
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
    }
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={nbdir}",
            "--ServerApp.open_browser=False",
        ]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=nbdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        _wait_port(port, lab)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/00_teaching.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector("#jp-main-statusbar >> text=/Idle/", timeout=120_000)  # kernel started
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            t0 = time.time()
            page.wait_for_selector("#jp-main-statusbar >> text=/Busy/", timeout=60_000)
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            n_code = cells.count()
            while True:  # every code cell has an execution number and the kernel is idle
                prompts = page.eval_on_selector_all(
                    ".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent.trim())"
                )
                idle = page.locator("#jp-main-statusbar >> text=/Idle/").count() > 0
                if idle and len(prompts) == n_code and all(pr[1:-2].strip().isdigit() for pr in prompts):
                    break
                if (
                    page.locator(
                        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        " >> text=/Traceback|Error/"
                    ).count()
                    and idle
                ):
                    break  # stopped on an error: the checks below report it
                assert time.time() - t0 < 1200, f"cells still running after 20 min: {prompts}"
                time.sleep(3)
            seconds = time.time() - t0
            errors = page.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback"
            ).count()
            images = page.locator(".jp-OutputArea-output img")
            n_images = images.count()
            page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "teaching_0_top.png"))
            for i in range(n_images):  # one screenshot per figure, as a reader sees it
                images.nth(i).scroll_into_view_if_needed()
                page.screenshot(path=str(shots / f"teaching_{i + 1}_figure.png"))
            page.keyboard.press("Control+s")  # save through the UI, then read what the kernel produced
            time.sleep(3)
            browser.close()
        print(f"Run All Cells finished in {seconds:.0f} s; {n_code} code cells, {n_images} images in the page")
        nb = nbformat.read(nb_path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert errors == 0 and not [o for o in outputs if o.output_type == "error"], "a cell shows a traceback"
        assert all(c.execution_count for c in nb.cells if c.cell_type == "code"), "a code cell did not run"
        assert n_images >= 4, f"only {n_images} figures rendered in the page"
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
        # the committed screenshots change only when asked (PKD_BROWSER_REFRESH=1); else they stay in a scratch folder
        dest = ROOT / "results" / "browser" if os.environ.get("PKD_BROWSER_REFRESH") == "1" else tmp_path / "kept"
        dest.mkdir(parents=True, exist_ok=True)
        for s in shots.iterdir():
            shutil.copy(s, dest / s.name)
        print(f"screenshots in {dest}")
    finally:
        lab.terminate()
        lab.wait(timeout=30)
