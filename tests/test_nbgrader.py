"""The real nbgrader (the `classroom` extra) on the course's notebooks: generate_assignment, then autograde a
submission that solves everything (the lesson itself) and one that solves nothing (the released version)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tlcourse.classroom.metadata import exercise_names, mark_nbgrader

pytest.importorskip("nbgrader", reason="nbgrader not installed: pip install -e '.[classroom]'")
from nbgrader.api import Gradebook

pytestmark = pytest.mark.slow  # nbgrader runs the lessons

REPO = Path(__file__).resolve().parent.parent
# The real lesson graded: lesson 10 (3 checks, one of them forks 2 gloo ranks in nbgrader's kernel; the lesson reads
# the photos and caches from nbgrader's working folder and launches torchrun). This test on the shared 2 cores, load
# 4.5-6: 134 s with a cold feature cache, against 559 s for lesson 05 (405 s in CI), whose 20-epoch training sweep
# runs in full in both submissions. Lesson 05 itself still runs under nbval and as its student version.
REAL_LESSON = "10_scaling_out.ipynb"
CONFIG = """c = get_config()
c.CourseDirectory.course_id = "tlcourse"
c.CourseDirectory.root = {root!r}
c.Execute.timeout = 900
"""


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    """nbgrader runs `alembic` by name: put this Python's scripts folder first on PATH."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def nbgrader(course: Path, *args: str) -> str:
    """Run one nbgrader command in the course directory; fail with its output when it fails."""
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    done = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def make_course(tmp_path: Path, name: str, nb: nbformat.NotebookNode) -> Path:
    """An nbgrader course directory whose assignment 'lesson' holds `nb` as `name`, released to students."""
    course = tmp_path / "course"
    (course / "source" / "lesson").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
    nbformat.write(nb, course / "source" / "lesson" / name)
    nbgrader(course, "generate_assignment", "lesson", "--force")
    return course


def submit(course: Path, student: str, nb: nbformat.NotebookNode, name: str) -> None:
    folder = course / "submitted" / student / "lesson"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / name)


def autograde(course: Path, name: str, solved: nbformat.NotebookNode) -> dict[str, dict[str, float]]:
    """Submit the solved notebook as 'ada' and the released one as 'bob'; autograde; each one's points per check."""
    released = nbformat.read(course / "release" / "lesson" / name, as_version=4)
    submit(course, "ada", solved, name)
    submit(course, "bob", released, name)
    nbgrader(course, "autograde", "lesson", "--create", "--force")
    checks = [f"check_{n}" for n in exercise_names(solved)]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: {c: gb.find_grade(c, Path(name).stem, "lesson", s).score for c in checks} for s in ("ada", "bob")}


def small_lesson() -> nbformat.NotebookNode:
    """A notebook shaped like lesson 06 (one cell with solution and check, as the lessons were) for a quick run."""
    cells = [
        "import numpy as np\nfrom tlcourse import checks",
        (
            "def cosine_lr(step, total_steps, peak_lr):\n    ### BEGIN SOLUTION\n"
            "    return peak_lr * (1 + np.cos(np.pi * step / total_steps)) / 2\n    ### END SOLUTION\n\n"
            "checks.check_cosine_lr(cosine_lr)"
        ),
        (
            "def exponential_lr(step, steps, start_lr, end_lr):\n    ### BEGIN SOLUTION\n"
            "    return start_lr * (end_lr / start_lr) ** (step / (steps - 1))\n    ### END SOLUTION\n\n"
            "checks.check_exponential_lr(exponential_lr)"
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return mark_nbgrader(nb)


def test_nbgrader_grades_a_small_notebook_with_the_lessons_structure(tmp_path):
    nb = small_lesson()
    course = make_course(tmp_path, "06_small.ipynb", nb)
    released = (course / "release" / "lesson" / "06_small.ipynb").read_text()
    assert "### BEGIN SOLUTION" not in released and "raise NotImplementedError" in released
    scores = autograde(course, "06_small.ipynb", nb)
    assert scores == {
        "ada": {"check_cosine_lr": 1, "check_exponential_lr": 1},
        "bob": {"check_cosine_lr": 0, "check_exponential_lr": 0},
    }


def test_nbgrader_grades_a_real_lesson(tmp_path, real_data):
    nb = nbformat.read(REPO / "notebooks" / REAL_LESSON, as_version=4)
    course = make_course(tmp_path, REAL_LESSON, nb)
    start = time.perf_counter()
    scores = autograde(course, REAL_LESSON, nb)
    print(f"nbgrader autograde, {REAL_LESSON}, 2 submissions: {time.perf_counter() - start:.0f}s")
    checks = [f"check_{n}" for n in exercise_names(nb)]
    assert scores == {"ada": dict.fromkeys(checks, 1), "bob": dict.fromkeys(checks, 0)}
