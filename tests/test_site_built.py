"""The built course site in build/site/ (after `make site`): pages, links, figures, no errors, no network.

Part of `make test-site` (CI runs it after `make site`), not of `make test`'s unit group: a site left over from an
older build would not match the current lessons. Without build/site/ it skips, saying why; with
TLCOURSE_REQUIRE_SITE=1 (set by `make test-site`) a missing site fails instead.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from tlcourse import questions
from tools import sitebuild

pytestmark = pytest.mark.site  # the built site in build/site/ (make test-site)

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "build" / "site"
STAGED = REPO / "build" / "site-src" / "lessons"  # the executed copies the site was built from


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
        executed = nbformat.read(STAGED / lesson.name, as_version=4)
        figures = sum(
            any(k.startswith("image/") for k in out.get("data", {}))
            for cell in executed.cells
            for out in cell.get("outputs", [])
        )
        shown = [src for src in page.imgs if "_images/" in src]
        # every lesson draws figures: none at all means they were never drawn (e.g. a non-inline matplotlib backend)
        assert figures > 0, f"{lesson.name}: its run drew no figure; run the lessons with the inline backend"
        assert len(shown) >= figures, f"{lesson.name}: {figures} figures in the run, {len(shown)} on its page"


def test_no_cell_shows_a_figure_twice(pages):
    for lesson in sitebuild.lessons():  # the executed copies themselves, as `make executed` leaves them to read
        executed = nbformat.read(REPO / "build" / "executed" / lesson.name, as_version=4)
        for index, cell in enumerate(executed.cells):
            images = [out["data"]["image/png"] for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
            assert len(images) == len(set(images)), f"{lesson.name}, cell {index}: the same figure twice"


def test_no_lesson_page_shows_an_error(pages):
    for lesson in sitebuild.lessons():
        text = "".join(pages[SITE / "lessons" / f"{lesson.stem}.html"].text)
        for bad in ["Traceback (most recent call last)", "Error displaying widget", "interactive(children"]:
            assert bad not in text, f"{lesson.name}'s page shows {bad!r}"


def test_every_lesson_page_shows_its_questions_with_folded_answers():
    _site_required()
    for lesson in sitebuild.lessons():
        if lesson.name[:2] not in questions.lessons():
            continue
        html = (SITE / "lessons" / f"{lesson.stem}.html").read_text(encoding="utf-8")
        assert 'class="tlcourse-questions"' in html, f"{lesson.name}'s page does not show its concept questions"
        block = html[html.index('class="tlcourse-questions"') :]
        assert block.count("<details>") == len(questions.load(lesson.name[:2])), f"{lesson.name}: answers not folded"


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
