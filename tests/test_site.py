"""The course site's staging (tools/sitebuild.py): lessons folded, linked and timed; no site needed.

The built site itself is checked by tests/test_site_built.py and tests/test_site_browser.py (`make test-site`).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tlcourse import questions
from tlcourse.classroom.student import STUB
from tools import colabcell, sitebuild
from tools.executed import METADATA_KEY, fingerprint

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "build" / "site"
EXECUTED = REPO / "build" / "executed"
RUN = {"seconds": 125.0, "cpus": 2, "machine": "Linux x86_64", "load_average": [1.0, 1.0, 1.0], "finished": "now"}
WIDGET_DATA = {sitebuild.WIDGET: {"model_id": "abc"}, "text/plain": "interactive(children=(FloatSlider(...),))"}


def _lesson(repo: Path, name: str = "03_tiny") -> Path:
    """A small lesson: a title, an exercise (solution + check), a widget; and its executed copy."""
    cells = [
        nbformat.v4.new_markdown_cell("# 03 · A tiny lesson\n\nWhat it is about."),
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("checks.check_f(f)"),
        nbformat.v4.new_code_cell("interact(plot);"),
    ]
    path = repo / "notebooks" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    executed = nbformat.read(path, as_version=4)
    bar = nbformat.v4.new_output("display_data", data={"text/plain": ""})  # a progress bar that vanished
    executed.cells[3].outputs = [nbformat.v4.new_output("display_data", data=WIDGET_DATA), bar]  # `;`: no result
    executed.metadata[METADATA_KEY] = {**RUN, "fingerprint": fingerprint(path)}
    (repo / "build" / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, repo / "build" / "executed" / path.name)
    return path


def test_lessons_are_the_numbered_notebooks_in_order(tmp_path):
    for name in ["10_scale", "00_welcome", "03_fine_tuning"]:
        _lesson(tmp_path, name)
    (tmp_path / "notebooks" / "scratch.ipynb").write_text("{}")
    assert [p.stem for p in sitebuild.lessons(tmp_path)] == ["00_welcome", "03_fine_tuning", "10_scale"]


def test_staged_lesson_folds_solutions_and_links_downloads(tmp_path):
    lesson = _lesson(tmp_path)
    (tmp_path / "src" / "lessons").mkdir(parents=True)
    (tmp_path / "src" / "downloads").mkdir()
    sitebuild.stage_lesson(lesson, tmp_path / "build" / "executed" / lesson.name, tmp_path / "src")
    page = nbformat.read(tmp_path / "src" / "lessons" / lesson.name, as_version=4)
    title, box, intro, solution, check, widget = page.cells
    assert (
        title.source == "# 03 · A tiny lesson"
        and intro.source == "What it is about."
        and "{download}`03_tiny.ipynb" in box.source
        and "2 min 05 s" in box.source
    )
    assert "hide-input" in solution.metadata.tags
    assert solution.metadata.mystnb["code_prompt_show"] == "Show the solution"
    assert "tags" not in check.metadata  # the check cell stays in view
    assert [o.data for o in widget.outputs] == [{"text/plain": sitebuild.WIDGET_NOTE}]
    assert nbformat.read(tmp_path / "src" / "downloads" / lesson.name, as_version=4) == nbformat.read(lesson, 4)
    student = nbformat.read(tmp_path / "src" / "downloads" / "03_tiny_student.ipynb", as_version=4)
    assert STUB in student.cells[1].source and "return 2 * x" not in student.cells[1].source


def test_a_widget_with_a_static_rendering_keeps_it_on_the_page(tmp_path):
    lesson = _lesson(tmp_path)
    executed_path = tmp_path / "build" / "executed" / lesson.name
    executed = nbformat.read(executed_path, as_version=4)
    html = questions.render_html("05", questions.load("05"), {})
    data = {sitebuild.WIDGET: {"model_id": "q"}, "text/html": html, "text/plain": "Q1. ..."}
    executed.cells[3].outputs = [nbformat.v4.new_output("display_data", data=data)]
    nbformat.write(executed, executed_path)
    (tmp_path / "src" / "lessons").mkdir(parents=True)
    (tmp_path / "src" / "downloads").mkdir()
    sitebuild.stage_lesson(lesson, executed_path, tmp_path / "src")
    page = nbformat.read(tmp_path / "src" / "lessons" / lesson.name, as_version=4)
    assert [o.data for o in page.cells[-1].outputs] == [{"text/html": html}]
    assert html.count("<details>") == len(questions.load("05"))


def test_the_page_opens_the_lesson_in_colab_from_the_repository_setting(tmp_path, monkeypatch):
    """One setting (the repository's address) makes each page's Colab link; the Colab cell itself is not shown."""
    lesson = _lesson(tmp_path)
    executed = tmp_path / "build" / "executed" / lesson.name
    nb = nbformat.read(executed, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(colabcell.cell_source("03")))
    nbformat.write(nb, executed)
    (tmp_path / "src" / "lessons").mkdir(parents=True)
    (tmp_path / "src" / "downloads").mkdir()
    monkeypatch.setenv("TLCOURSE_REPOSITORY_URL", "https://github.com/someone/tlcourse/")
    sitebuild.stage_lesson(lesson, executed, tmp_path / "src", repository=sitebuild.repository_url())
    page = nbformat.read(tmp_path / "src" / "lessons" / lesson.name, as_version=4)
    assert "google.colab" not in "".join(c.source for c in page.cells)
    url = "https://colab.research.google.com/github/someone/tlcourse/blob/main/notebooks/03_tiny.ipynb"
    assert f"[open it in Colab]({url})" in page.cells[1].source and "{download}`03_tiny.ipynb" in page.cells[1].source


def test_the_repository_setting_comes_from_github_actions_or_is_left_out(monkeypatch):
    monkeypatch.delenv("TLCOURSE_REPOSITORY_URL", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert sitebuild.repository_url() == "" and "Colab" not in sitebuild._download_cell("03_tiny", RUN, "").source
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/tlcourse")
    assert sitebuild.repository_url() == "https://github.com/org/tlcourse"
    with pytest.raises(sitebuild.SiteError, match="TLCOURSE_REPOSITORY_URL"):
        sitebuild.colab_url("https://gitlab.com/org/tlcourse", "03_tiny")


def test_a_lesson_that_ran_with_errors_stops_the_build(tmp_path):
    lesson = _lesson(tmp_path)
    executed = tmp_path / "build" / "executed" / lesson.name
    nb = nbformat.read(executed, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="too low", traceback=[])]
    nbformat.write(nb, executed)
    with pytest.raises(sitebuild.SiteError, match="03_tiny.ipynb ran with errors.*AssertionError: too low"):
        sitebuild.stage_lesson(lesson, executed, tmp_path)


def test_stale_copies_are_named_with_why(tmp_path):
    lesson = _lesson(tmp_path)
    executed = tmp_path / "build" / "executed" / lesson.name
    assert sitebuild.stale_reason(lesson, executed) is None
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[3].source = "interact(plot, x=(0, 1));"
    nbformat.write(nb, lesson)
    assert sitebuild.stale_reason(lesson, executed) == "the notebook's cells changed since it ran"
    assert sitebuild.stale_reason(lesson, tmp_path / "missing.ipynb") == "no executed copy"


def test_lesson_map_links_every_lesson_with_its_measured_time(tmp_path):
    for name in ["00_welcome", "01_pretraining"]:
        _lesson(tmp_path, name)
    runs = {"00_welcome": {**RUN, "seconds": 48.4}, "01_pretraining": RUN}
    table = sitebuild.lesson_map(runs, tmp_path)
    assert "| [03 · A tiny lesson](lessons/00_welcome.ipynb) | 48 s |" in table
    assert "(lessons/01_pretraining.ipynb) | 2 min 05 s |" in table and "**2 min 53 s**" in table
    assert sitebuild.format_seconds(59.6) == "1 min 00 s"


def test_fresh_copies_are_used_as_they_are_and_stale_ones_only_on_request(tmp_path, monkeypatch, capsys):
    lesson = _lesson(tmp_path)
    assert sitebuild.ensure_executed(tmp_path)["03_tiny"]["seconds"] == RUN["seconds"]  # fresh: nothing runs
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[2].source = "checks.check_f(f, strict=True)"
    nbformat.write(nb, lesson)
    monkeypatch.setenv("TLCOURSE_SITE_REUSE", "1")
    assert sitebuild.ensure_executed(tmp_path)["03_tiny"]["seconds"] == RUN["seconds"]
    assert "03_tiny.ipynb: the notebook's cells changed since it ran; reused" in capsys.readouterr().err
