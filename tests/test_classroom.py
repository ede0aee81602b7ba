"""nbgrader metadata: written by `tlcourse student --nbgrader-metadata`, and the committed notebooks match it."""

from pathlib import Path

import nbformat
import pytest

from tlcourse.checks import CATALOG
from tlcourse.classroom.metadata import exercise_names, mark_nbgrader

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if "### BEGIN SOLUTION" in p.read_text())


def _nb(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_committed_notebooks_carry_the_metadata_the_tool_writes(path):
    text = path.read_text(encoding="utf-8")
    expected = nbformat.writes(mark_nbgrader(nbformat.reads(text, as_version=4), path)) + "\n"
    assert text == expected, f"{path.name} is out of date: run `tlcourse student --nbgrader-metadata`"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_check_of_the_lesson_has_a_graded_cell(path):
    nb = nbformat.read(path, as_version=4)
    graded = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert sorted(exercise_names(nb)) == sorted(CATALOG[path.name[:2]])
    assert graded == [f"check_{name}" for name in exercise_names(nb)]
    nbformat.validate(nb)


def test_a_cell_with_solution_and_check_is_split_at_the_check_call():
    nb = _nb("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\nchecks.check_f(f)\nprint(1)")
    nb.cells[0].id = "abc"
    out = mark_nbgrader(nb)
    assert [c.source for c in out.cells] == [
        "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
        "checks.check_f(f)\nprint(1)",
    ]
    assert out.cells[1].id == "abc-check"
    assert out.cells[0].metadata.nbgrader == {
        "grade": False,
        "grade_id": "f",
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    assert out.cells[1].metadata.nbgrader["grade"] and out.cells[1].metadata.nbgrader["points"] == 1
    assert nbformat.writes(mark_nbgrader(out)) == nbformat.writes(out), "running the tool twice changes nothing"


def test_stale_metadata_is_removed_and_a_solution_without_check_is_an_error():
    nb = _nb("x = 1")
    nb.cells[0].metadata["nbgrader"] = {"grade": True}
    assert "nbgrader" not in mark_nbgrader(nb).cells[0].metadata
    with pytest.raises(ValueError, match="not followed by a cell starting with `checks.check_"):
        mark_nbgrader(_nb("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "print(x)"), "lesson.ipynb")
