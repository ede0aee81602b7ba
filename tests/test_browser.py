"""A real browser: headless Chromium drives JupyterLab (served from this venv) through lesson 00, lesson 06's
explorer and a lesson's concept questions.

It runs the notebooks, moves a slider, clicks "Run Interact", saves, reloads, and checks what a learner would see:
no error output, widgets drawn as widgets, and the explorer showing its plot only. Screenshots go to
build/screenshots/ (CI keeps that folder). Needs Chromium (`apt-get install chromium`) and the `playwright` package
(the `classroom` extra); without them the test is skipped and says which is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow  # a real Chromium

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "screenshots"
CHROMIUM = os.environ.get("TLCOURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]
EXPLORER_CELLS = ["0e4eb21c", "83a68e14", "c25ff5ea"]  # lesson 06: setup, build/run, the explorer
PROGRESS_CELLS = [
    "from tlcourse.progress import tqdm\nfor _ in tqdm(range(3), desc='epochs'):\n    pass",
    "for _ in tqdm(range(4), desc='batches', leave=False):\n    pass\nprint('done')",
]
QUESTIONS_LESSON = "05"  # its questions need no run values: the notebook is one `ask` call
BAD_TEXT = ["Traceback", "Error displaying widget", "HBox(", "interactive(children", "'history'", "History("]


def _unavailable(reason: str) -> None:
    """Skip with the reason; fail instead where TLCOURSE_REQUIRE_BROWSER=1 (CI sets it, so it never skips silently)."""
    if os.environ.get("TLCOURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (TLCOURSE_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright import sync_api
except ImportError:
    _unavailable("playwright not installed: pip install -e '.[classroom]'")
if CHROMIUM is None:
    _unavailable("chromium not found: apt-get install chromium (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _explorer_notebook(target: Path) -> None:
    """Lesson 06 reduced to the cells its explorer needs (same cells, same ids), saved at `target`."""
    nb = nbformat.read(REPO / "notebooks" / "06_hyperparameters.ipynb", as_version=4)
    title = next(c for c in nb.cells if c.cell_type == "markdown")  # (cell 0 is the Colab cell: tools/colabcell.py)
    nb.cells = [title] + [c for c in nb.cells if c.get("id") in EXPLORER_CELLS]
    assert len(nb.cells) == 1 + len(EXPLORER_CELLS), "lesson 06 changed: update EXPLORER_CELLS"
    nbformat.write(nb, target)


def _questions_notebook(target: Path, data: Path) -> None:
    """A notebook that records progress in `data` (not the learner's own) and asks one lesson's questions."""
    setup = f"import os\nos.environ['TLCOURSE_PROGRESS'] = '1'\nos.environ['TLCOURSE_DATA'] = {str(data)!r}"
    ask = f"from tlcourse import questions\n\nquestions.ask({QUESTIONS_LESSON!r})"
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(ask)],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        ),
        target,
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free port, serving copies of the notebooks; yields its base URL with the token."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(REPO / "notebooks" / "00_welcome.ipynb", root)
    _explorer_notebook(root / "06_explorer.ipynb")
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(c) for c in PROGRESS_CELLS],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        ),
        root / "progress_bars.ipynb",
    )
    _questions_notebook(root / "questions.ipynb", root / "question-data")
    port, token = _free_port(), "tlcourse-browser-test"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--expose-app-in-browser",
        f"--LabApp.workspaces_dir={root / '.ws'}",
        f"--LabApp.user_settings_dir={root / '.settings'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(root / "lab.log", "w") as log:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(url, token, server, root / "lab.log")
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_server(url: str, token: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def chromium_context(profile: Path, width: int, height: int) -> Iterator:
    """Headless Chromium with a fresh user-data-dir and a window of width x height; closed afterwards."""
    with sync_api.sync_playwright() as pw:
        window = {"width": width, "height": height}
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=FLAGS, headless=True, viewport=window
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    """Chromium for JupyterLab."""
    with chromium_context(tmp_path_factory.mktemp("chromium-profile"), 1400, 1000) as context:
        yield context


def open_notebook(page, lab, name: str) -> None:
    """Open `name` in JupyterLab and wait until its kernel is ready."""
    url, token = lab
    page.goto(f"{url}/lab/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel",
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.ready")
    no_news = page.locator(".jp-toast-button", has_text="No")  # the 'Jupyter news?' toast would hide outputs
    if no_news.count():
        no_news.first.click()


def run_all(page, timeout_s: float = 600) -> float:
    """Run every cell through JupyterLab's own command; returns the seconds it took."""
    start = time.perf_counter()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=timeout_s * 1000,
        polling=500,
    )
    return time.perf_counter() - start


def save_and_reload(page, lab, name: str) -> None:
    """Save the notebook, reload the page and reopen it (the kernel keeps running)."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(1000)
    open_notebook(page, lab, name)
    page.wait_for_timeout(3000)  # let widget views come back from the kernel


def problems(page) -> list[str]:
    """Every error a learner would see: stderr/traceback outputs and text that should never show."""
    found = [
        el.inner_text()[:300]
        for el in page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ]
    text = page.inner_text(".jp-Notebook")
    return found + [f"page shows {bad!r}" for bad in BAD_TEXT if bad in text]


def test_lesson_00_runs_in_the_browser(browser, lab):
    page = browser.new_page()
    open_notebook(page, lab, "00_welcome.ipynb")
    seconds = run_all(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "00_welcome_run.png"), full_page=True)
    print(f"lesson 00 ran in the browser in {seconds:.1f}s")
    assert not problems(page)
    assert page.query_selector_all(".jp-OutputArea-output img"), "the photo grids should be drawn"
    save_and_reload(page, lab, "00_welcome.ipynb")
    page.screenshot(path=str(SHOTS / "00_welcome_reloaded.png"), full_page=True)
    assert not problems(page)


def test_finished_progress_bars_stay_readable_after_reloading(browser, lab):
    page = browser.new_page()
    open_notebook(page, lab, "progress_bars.ipynb")
    run_all(page)
    save_and_reload(page, lab, "progress_bars.ipynb")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "progress_bars_reloaded.png"))
    assert not problems(page)
    text = page.inner_text(".jp-Notebook")
    assert "epochs: 100%" in text and "3/3" in text and "batches" not in text.replace("desc='batches'", "")


def test_a_concept_question_answered_in_the_browser_counts_in_progress(browser, lab):
    from tlcourse import questions

    first = questions.load(QUESTIONS_LESSON)[0]
    total = len(questions.load(QUESTIONS_LESSON))
    page = browser.new_page()
    open_notebook(page, lab, "questions.ipynb")
    run_all(page)
    quiz = page.locator(".tlcourse-quiz").first
    try:
        quiz.wait_for(timeout=60_000)
    except sync_api.TimeoutError:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "questions_missing.png"))
        pytest.fail(f"no questions widget; the notebook shows:\n{page.inner_text('.jp-Notebook')[-2000:]}")
    status = quiz.locator("table").first
    assert f"0/{total}" in status.inner_text(), status.inner_text()
    options = quiz.locator(".widget-radio-box").first.locator("label")
    check = quiz.locator("button", has_text="Check").first
    options.nth((int(first.answer or 0) + 1) % len(first.options)).click()  # a wrong answer first
    check.click()
    quiz.locator(".tlcourse-wrong").first.wait_for(timeout=30_000)
    assert "Look again at" in quiz.locator(".tlcourse-wrong").first.inner_text()
    options.nth(int(first.answer or 0)).click()
    check.click()
    quiz.locator(".tlcourse-right").first.wait_for(timeout=30_000)
    page.wait_for_function(
        "([t]) => [...document.querySelectorAll('.tlcourse-quiz table')].some(e => e.innerText.includes(t))",
        arg=[f"1/{total}"],
        timeout=30_000,
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    quiz.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{QUESTIONS_LESSON}_questions_answered.png"))
    assert not problems(page)


def move_lr_slider(page) -> str:
    """Move the explorer's 'head LR' slider one step right with the keyboard; returns the new readout."""
    slider = page.locator(".widget-slider", has_text="head LR").first
    before = slider.locator(".widget-readout").inner_text()
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("b => document.querySelector('.widget-slider .widget-readout').innerText !== b", arg=before)
    return slider.locator(".widget-readout").inner_text()


def explorer_output(page):
    """The interact's output area (the plot it draws)."""
    return page.locator(".widget-interact .widget-output").first


def test_lesson_06_explorer_in_the_browser(browser, lab):
    page = browser.new_page()
    open_notebook(page, lab, "06_explorer.ipynb")
    seconds = run_all(page)
    print(f"lesson 06 explorer cells ran in the browser in {seconds:.1f}s")
    page.wait_for_selector("button:has-text('Run Interact')", timeout=60_000)
    readout = move_lr_slider(page)
    start = time.perf_counter()
    page.click("button:has-text('Run Interact')")
    explorer_output(page).locator("img").wait_for(timeout=300_000)
    print(f"explorer: head LR {readout}, one run {time.perf_counter() - start:.1f}s")
    SHOTS.mkdir(parents=True, exist_ok=True)
    explorer_output(page).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "06_explorer_run.png"))
    _assert_explorer_clean(page)
    save_and_reload(page, lab, "06_explorer.ipynb")
    page.wait_for_selector("button:has-text('Run Interact')", timeout=60_000)
    explorer_output(page).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "06_explorer_reloaded.png"))
    _assert_explorer_clean(page)


def _assert_explorer_clean(page) -> None:
    assert not problems(page)
    assert page.locator(".widget-slider").count() == 3 and page.locator(".widget-dropdown").count() == 1
    out = explorer_output(page)
    assert out.locator("img").count() == 1, "the explorer should draw one figure"
    assert len(out.inner_text().strip()) < 200, (
        f"the explorer should show a plot and a short summary only:\n{out.inner_text()[:500]}"
    )
