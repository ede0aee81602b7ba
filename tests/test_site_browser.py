"""A real browser on the built course site (build/site/, opened from file://, so nothing can come from a network).

Headless Chromium opens the landing page, follows its links to every lesson and checks on each what a reader sees:
every image loaded, no traceback, the solutions folded until clicked. It searches for "BatchNorm" (lesson 03) and
`replace_head` (the API page), and checks that a formula is typeset by MathJax rather than left as TeX.
Screenshots go to build/screenshots/site_*.png. Needs the built site (`make site`; skipped without it unless
TLCOURSE_REQUIRE_SITE=1, as `make test-site` sets), Chromium and playwright (see tests/test_browser.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import sitebuild

from .test_browser import _unavailable, chromium_context

pytestmark = [pytest.mark.site, pytest.mark.slow]  # the built site in a real Chromium (make test-site)

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "build" / "site"
SHOTS = REPO / "build" / "screenshots"
ALL_IMAGES_LOADED = "() => [...document.images].every(i => i.complete)"
BROKEN_IMAGES = "() => [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)"

if not (SITE / "index.html").is_file():
    if os.environ.get("TLCOURSE_REQUIRE_SITE") == "1":
        _unavailable("no site in build/site/: run `make site` first (TLCOURSE_REQUIRE_SITE=1)")
    pytest.skip("no site in build/site/: run `make site` first", allow_module_level=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium for the site, with a fresh profile."""
    with chromium_context(tmp_path_factory.mktemp("chromium-site"), 1440, 900) as context:
        yield context


def shot(page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"site_{name}.png"), full_page=full_page)


def open_page(context, url: str):
    page = context.new_page()
    page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_function(ALL_IMAGES_LOADED, timeout=30_000)
    return page


def test_landing_page_leads_to_every_lesson_and_each_shows_its_outputs(browser):
    page = open_page(browser, (SITE / "index.html").as_uri())
    assert "transfer learning" in page.title().lower()
    shot(page, "landing")
    shot(page, "landing_full", full_page=True)
    hrefs = page.eval_on_selector_all("article a[href*='lessons/']", "els => [...new Set(els.map(e => e.href))]")
    stems = [p.stem for p in sitebuild.lessons()]
    assert [h.rsplit("/", 1)[-1].split("#")[0] for h in hrefs] == [f"{s}.html" for s in stems]
    text = page.inner_text("article")
    for stem in stems:  # the lesson map shows each lesson's measured time
        assert f"lessons/{stem}.html" in " ".join(hrefs)
    assert "min" in text and "measured" in text.lower()
    for href in hrefs:
        lesson = open_page(browser, href)
        name = href.rsplit("/", 1)[-1].removesuffix(".html")
        assert not lesson.evaluate(BROKEN_IMAGES), f"{name}: images not loaded"
        body = lesson.inner_text("article")
        assert "Traceback" not in body, f"{name}: the page shows a traceback"
        assert "Run this lesson yourself" in body and f"{name}.ipynb" in body
        executed = sitebuild.REPO / "build" / "executed" / f"{name}.ipynb"
        if '"image/png"' in executed.read_text(encoding="utf-8"):
            assert lesson.locator("article .cell_output img").count() > 0, f"{name}: its figures are missing"
        shot(lesson, f"lesson_{name}")
        lesson.close()


def test_solutions_are_folded_until_clicked(browser):
    page = open_page(browser, (SITE / "lessons" / "02_feature_extraction.html").as_uri())
    folded = page.locator("details.above-input")
    assert folded.count() >= 1, "lesson 02's solutions should be folded"
    first = folded.first
    first.scroll_into_view_if_needed()
    code = first.locator("xpath=ancestor::div[contains(@class,'cell')][1]").locator(".cell_input").first
    assert "Show the solution" in first.inner_text()
    assert not code.is_visible(), "a solution is visible before it is clicked"
    shot(page, "solution_folded")
    first.locator("summary").click()
    assert code.is_visible() and "BEGIN SOLUTION" in code.inner_text()
    page.wait_for_timeout(800)  # the fold opens with a fade: let it finish before the screenshot
    shot(page, "solution_open")


@pytest.mark.parametrize(("query", "expected"), [("BatchNorm", "lessons/03_fine_tuning"), ("replace_head", "surgery")])
def test_search_box_finds(browser, query, expected):
    page = open_page(browser, (SITE / "index.html").as_uri())
    page.locator(".search-button__button:visible").first.click()
    box = page.locator("#pst-search-dialog input[name='q']")
    box.fill(query)
    box.press("Enter")
    page.wait_for_url("**/search.html?q=*")
    page.wait_for_selector("#search-results ul.search li", timeout=60_000)
    results = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
    shot(page, f"search_{query}")
    assert any(expected in r for r in results), f"searching {query!r} found {results[:10]}"


def test_a_formula_is_typeset(browser):
    page = open_page(browser, (SITE / "index.html").as_uri())
    page.wait_for_selector("mjx-container", timeout=30_000)
    formula = page.locator("mjx-container").first
    formula.scroll_into_view_if_needed()
    shot(page, "formula")
    assert formula.locator("mjx-math").count() == 1 and formula.bounding_box()["width"] > 5
    assert "\\operatorname" not in page.inner_text("article"), "raw TeX is showing"
