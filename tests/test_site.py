"""The course site: how lessons are staged (always), and the built site in build/site/ (after `make site`).

The checks of the built site skip, saying why, when build/site/ is absent (a plain `make test` builds no site);
`make test-site` sets TLCOURSE_REQUIRE_SITE=1 so that, in CI, a missing site fails instead.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from tlcourse import sitebuild
from tlcourse.executed import METADATA_KEY, fingerprint
from tlcourse.student import STUB

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "build" / "site"
EXECUTED = REPO / "build" / "executed"
RUN = {"seconds": 125.0, "cpus": 2, "machine": "Linux x86_64", "load_average": [1.0, 1.0, 1.0], "finished": "now"}
WIDGET_DATA = {sitebuild.WIDGET: {"model_id": "abc"}, "text/plain": "interactive(children=(FloatSlider(...),))"}


# ---- staging (no site needed) ----


def _lesson(repo: Path, name: str = "03_tiny") -> Path:
    """A small lesson: a title, an exercise (solution + check), a widget; and its executed copy."""
    cells = [
        nbformat.v4.new_markdown_cell("# 03 · A tiny lesson\n\nWhat it is about."),
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("checks.check_f(f)"),
        nbformat.v4.new_code_cell("interact(plot)"),
    ]
    path = repo / "notebooks" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    executed = nbformat.read(path, as_version=4)
    executed.cells[3].outputs = [nbformat.v4.new_output("display_data", data=WIDGET_DATA)]
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
    assert title.source == "# 03 · A tiny lesson" and intro.source == "What it is about." and "{download}`03_tiny.ipynb" in box.source and "2 min 05 s" in box.source
    assert "hide-input" in solution.metadata.tags
    assert solution.metadata.mystnb["code_prompt_show"] == "Show the solution"
    assert "tags" not in check.metadata  # the check cell stays in view
    assert widget.outputs[0].data == {"text/plain": sitebuild.WIDGET_NOTE}
    assert nbformat.read(tmp_path / "src" / "downloads" / lesson.name, as_version=4) == nbformat.read(lesson, 4)
    student = nbformat.read(tmp_path / "src" / "downloads" / "03_tiny_student.ipynb", as_version=4)
    assert STUB in student.cells[1].source and "return 2 * x" not in student.cells[1].source


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
    nb.cells[3].source = "interact(plot, x=(0, 1))"
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


# ---- the built site ----


def _site_required() -> None:
    if not (SITE / "index.html").is_file():
        reason = "no site in build/site/: run `make site` first"
        if os.environ.get("TLCOURSE_REQUIRE_SITE") == "1":
            pytest.fail(f"{reason} (TLCOURSE_REQUIRE_SITE=1)", pytrace=False)
        pytest.skip(reason)


class Page(HTMLParser):
    """One built page: its links and resources, the ids it defines, its images and its text."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.refs, self.ids, self.imgs, self.text = path, [], set(), [], []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append((tag, attrs.get("rel", ""), attrs[key]))
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def pages() -> dict[Path, Page]:
    _site_required()
    return {p: Page(p) for p in SITE.rglob("*.html") if not p.relative_to(SITE).parts[0].startswith("_")}


def test_every_lesson_has_a_page_with_its_figures(pages):
    for lesson in sitebuild.lessons():
        page = pages.get(SITE / "lessons" / f"{lesson.stem}.html")
        assert page is not None, f"no page for {lesson.name}"
        executed = nbformat.read(EXECUTED / lesson.name, as_version=4)
        figures = sum(
            any(k.startswith("image/") for k in out.get("data", {}))
            for cell in executed.cells
            for out in cell.get("outputs", [])
        )
        shown = [src for src in page.imgs if "_images/" in src]
        assert len(shown) >= figures, f"{lesson.name}: {figures} figures in the run, {len(shown)} on its page"


def test_no_lesson_page_shows_an_error(pages):
    for lesson in sitebuild.lessons():
        text = "".join(pages[SITE / "lessons" / f"{lesson.stem}.html"].text)
        for bad in ["Traceback (most recent call last)", "Error displaying widget", "interactive(children"]:
            assert bad not in text, f"{lesson.name}'s page shows {bad!r}"


def test_every_internal_link_resolves(pages):
    broken = []
    for path, page in pages.items():
        for _tag, _rel, ref in page.refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(SITE)}: {ref}")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in pages[target].ids:
                broken.append(f"{path.relative_to(SITE)}: {ref} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:30])


def test_the_site_needs_no_network(pages):
    external = [
        f"{path.relative_to(SITE)}: <{tag}> {ref}"
        for path, page in pages.items()
        for tag, rel, ref in page.refs
        if tag in ("script", "img") or (tag == "link" and "stylesheet" in rel)
        if re.match(r"(https?:)?//", ref)
    ]
    assert not external, "resources fetched from the network:\n" + "\n".join(external[:20])
    assert (SITE / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not served with the site"


def test_reference_pages_are_generated(pages):
    cli = "".join(pages[SITE / "cli.html"].text)
    for command in ["train", "predict", "grade", "student", "doctor", "download", "datasets", "verify"]:
        assert f"tlcourse {command}" in cli, f"the CLI page lacks `tlcourse {command}`"
    train = "".join(pages[SITE / "api" / "tlcourse.train.html"].text)
    for parameter in ["optimizer", "epochs", "early_stopping", "time_budget"]:
        assert parameter in train, f"fit's parameter {parameter} is not listed"
