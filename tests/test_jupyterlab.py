"""The notebooks in a real JupyterLab, as a learner first meets them.

A fresh clone of this repository and a fresh HOME (no trust signatures, no settings), JupyterLab
started by `make lab` itself on 127.0.0.1 (using this venv, which has JupyterLab: `make lab`
installs nothing here), and notebook 02 opened in Debian's Chromium through Playwright, without
running a cell. Its graphs must be pictures and its explorer must step. A copy of the notebook
that `make lab` did not trust (any notebook from elsewhere) must still show its graphs and, in
place of the explorer, the finished graph as a picture: never a drawing's text run together.

Skips, saying why, where there is no Chromium, Playwright, JupyterLab, git checkout or make.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow  # a JupyterLab server and a browser: about half a minute

REPO = Path(__file__).resolve().parent.parent
# `make lab` opens notebook 01, so JupyterLab serves its folder, notebooks/
NOTEBOOK = "02_value_and_backward.ipynb"
START_TIMEOUT_SECONDS = 120
GRAPH_PICTURE = 'img[alt^="computation graph"]'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"make lab exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer at {url}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, clone): JupyterLab serving a fresh clone, started by `make lab`."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    pytest.importorskip("jupyterlab", reason="JupyterLab comes with the dev extra")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    if shutil.which("make") is None:
        pytest.skip("needs make")
    root = tmp_path_factory.mktemp("lab")
    clone, home = root / "clone", root / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    venv = Path(sys.prefix)
    port = free_port()
    flags = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
        "--IdentityProvider.token= --LabApp.news_url=None"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    environment["HOME"] = str(home)
    environment.pop("XDG_DATA_HOME", None)
    environment.pop("XDG_CONFIG_HOME", None)
    log = root / "lab.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            # this venv stands in for the clone's: -o keeps make from installing into it
            ["make", "-C", str(clone), "lab", f"VENV={venv}", "-o", f"{venv}/.installed-lab"]
            + [f"LAB_FLAGS={flags}"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one below
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{base}/lab", server, log)
        yield base, clone
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def open_notebook(page, base: str, path: str) -> None:
    """Open `path` alone (?reset: no tab of an earlier test comes back) and wait until every
    output is drawn (the three drawings and the explorer)."""
    page.goto(f"{base}/lab/tree/{path}?reset")
    page.wait_for_function(
        f"document.querySelectorAll('.jp-OutputArea-output {GRAPH_PICTURE}').length >= 4",
        timeout=90_000,
    )
    assert page.locator(".jp-NotebookPanel").count() == 1


def loaded_pictures(page) -> list[bool]:
    return page.locator(f".jp-OutputArea-output {GRAPH_PICTURE}").evaluate_all(
        "imgs => imgs.map(img => img.complete && img.naturalWidth > 50)"
    )


def test_a_trusted_clone_shows_pictures_and_a_stepping_explorer(lab, browser_page):
    base, _ = lab
    page = browser_page
    open_notebook(page, base, NOTEBOOK)
    outputs = page.locator(".jp-OutputArea-output")
    assert outputs.filter(has_text="<Graph of").count() == 0  # no drawing shown as its repr
    assert all(loaded_pictures(page))
    explorer = page.locator(".jp-OutputArea-output .tgs-explorer")
    assert explorer.count() == 1
    explorer.scroll_into_view_if_needed()
    counter = explorer.locator("[data-role=step]")
    # x, w, b are given: 3 forward steps (x·w, z, L), then 6 backward ones
    assert counter.inner_text().startswith("step 0 of 9")
    assert explorer.locator("svg g[data-value]").count() == 3
    explorer.locator("[data-action=next]").click()
    explorer.locator("[data-action=next]").click()
    assert counter.inner_text() == "step 2 of 9 · forward pass"
    assert explorer.locator("svg g[data-value]").count() == 5  # and two values computed
    explain = explorer.locator("[data-role=explain]").inner_text()
    assert explain == "z = x·w + b = -1.0000 + 0.7000 = -0.3000"
    # scrolled 100 px past the explorer's top, its buttons and text stay at the top of the
    # notebook's view (the output area clips, so CSS's sticky alone would not do)
    view_top = explorer.evaluate(
        """e => { let s = e.parentElement;
           while (getComputedStyle(s).overflowY === "visible" || s.scrollHeight <= s.clientHeight)
             { s = s.parentElement; }
           s.scrollTop += e.getBoundingClientRect().top - s.getBoundingClientRect().top + 100;
           return s.getBoundingClientRect().top; }"""
    )
    page.wait_for_function(
        f"Math.abs(document.querySelector('.tgs-bar').getBoundingClientRect().top - {view_top}) < 2"
    )
    explorer.locator("[data-action=prev]").click()  # still working up there
    assert counter.inner_text() == "step 1 of 9 · forward pass"
    explorer.hover()  # the arrow keys go to the explorer under the pointer
    page.keyboard.press("End")
    assert counter.inner_text() == "step 9 of 9 · backward pass"


def test_an_untrusted_copy_shows_the_finished_graph_as_a_picture(lab, browser_page):
    base, clone = lab
    page = browser_page
    notebook = json.loads((clone / "notebooks" / NOTEBOOK).read_text(encoding="utf-8"))
    notebook["metadata"]["copied"] = True  # another notebook: `make lab` did not sign it
    (clone / "notebooks" / "copy.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    open_notebook(page, base, "copy.ipynb")
    assert all(loaded_pictures(page))
    explorer_output = page.locator(".jp-OutputArea-output").filter(
        has=page.locator("img.tgs-picture")
    )
    assert explorer_output.count() == 1
    text = explorer_output.inner_text()
    assert text.startswith("The graph of L with every value and gradient.")
    assert "data " not in text and "grad " not in text  # no drawing's text run together
    assert explorer_output.locator("button, svg").count() == 0  # and no dead buttons


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_installs_jupyterlab_and_the_notebooks_needs_not_the_test_tools(tmp_path):
    # what `make lab` would run in a fresh checkout with no .venv yet (make -n: print only)
    planned = subprocess.run(
        ["make", "-n", "-C", str(REPO), "lab", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert any("'.[lab]'" in line for line in installs), installs
    assert not any("[dev]" in line for line in installs), installs
    assert "jupyter trust notebooks/[0-9][0-9]_*.ipynb" in planned  # before it opens them
    assert planned.index("jupyter trust") < planned.index("jupyter lab")
