"""Student notebooks (solutions stubbed) run top to bottom with no error other than the stubs' NotImplementedError."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tlcourse.classroom.student import BEGIN, make_student_notebooks, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if BEGIN in p.read_text())


def test_strip_solutions_keeps_indentation_and_code_around():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\ncheck(f)"
    out = strip_solutions(src)
    assert "return x + y" not in out and "    raise NotImplementedError(" in out and out.endswith("check(f)")


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="Unbalanced"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_every_lesson_has_exercises():
    assert LESSONS, "no notebook has exercises"


@pytest.mark.student
@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_student_notebook_runs_with_only_stub_errors(name, tmp_path):
    path = next(p for p in make_student_notebooks(NOTEBOOKS, tmp_path) if p.name == name)
    nb = nbformat.read(path, as_version=4)
    stubs = sum(cell.source.count("raise NotImplementedError") for cell in nb.cells if cell.cell_type == "code")
    client = NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env={**os.environ, "TLCOURSE_PROGRESS": "0"})  # a test run is no learner's progress
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    unexpected = [f"{e.ename}: {e.evalue}" for e in errors if e.ename != "NotImplementedError"]
    assert not unexpected, unexpected
    assert stubs > 0 and len(errors) == stubs, f"{stubs} stubs but {len(errors)} NotImplementedError outputs"
