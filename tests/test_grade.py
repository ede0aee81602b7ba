"""`tlcourse grade`: small submissions the test writes (complete, partial, broken JSON, hanging, checks deleted)."""

import csv

import nbformat
import pytest

from tlcourse.cli import main

pytestmark = pytest.mark.slow  # grading runs notebooks in Jupyter kernels

IMPORTS = "import numpy as np\nfrom tlcourse import checks"
RIGHT = {
    "exponential_lr": "def exponential_lr(step, steps, start_lr, end_lr):\n"
    "    return start_lr * (end_lr / start_lr) ** (step / (steps - 1))",
    "cosine_lr": "def cosine_lr(step, total_steps, peak_lr):\n"
    "    return peak_lr * (1 + np.cos(np.pi * step / total_steps)) / 2",
    "early_stop": "def early_stop(val_losses, patience):\n    best, waited = 1, 0\n"
    "    for epoch, loss in enumerate(val_losses, start=1):\n"
    "        if epoch == 1 or loss < val_losses[best - 1]:\n            best, waited = epoch, 0\n"
    "        else:\n            waited += 1\n            if waited >= patience:\n"
    "                return epoch, best\n    return len(val_losses), best",
}
CHECKS = {
    "exponential_lr": "checks.check_exponential_lr(exponential_lr)",
    "cosine_lr": "checks.check_cosine_lr(cosine_lr)",
    "early_stop": "checks.check_early_stop(early_stop)",
}


def lesson06(answers: dict[str, str], extra: str = "") -> nbformat.NotebookNode:
    """A small notebook shaped like lesson 06: imports, then a solution cell and a check cell per exercise."""
    cells = [IMPORTS] + ([extra] if extra else []) + [s for name in CHECKS for s in (answers[name], CHECKS[name])]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def stub(name: str) -> str:
    return RIGHT[name].split("\n")[0] + "\n    raise NotImplementedError('Your turn')"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    subs = root / "submissions"
    wrong_cosine = "def cosine_lr(step, total_steps, peak_lr):\n    return peak_lr"
    notebooks = {
        "ada": lesson06(RIGHT),
        "bob": lesson06({**RIGHT, "cosine_lr": wrong_cosine, "early_stop": stub("early_stop")}),
        "cyd": lesson06({name: stub(name) for name in RIGHT}),
        "eve": lesson06(RIGHT, extra="import time\ntime.sleep(600)"),
    }
    for student, nb in notebooks.items():
        nbformat.write(nb, (subs / student).mkdir(parents=True) or subs / student / "06_hyperparameters.ipynb")
    deleted = lesson06(RIGHT)
    deleted.cells = [c for c in deleted.cells if "check_cosine_lr" not in c.source]
    (subs / "dan").mkdir()
    nbformat.write(deleted, subs / "dan" / "06_hyperparameters.ipynb")
    (subs / "fay").mkdir()
    (subs / "fay" / "06_hyperparameters.ipynb").write_text('{"cells": [ oops', encoding="utf-8")
    out = root / "grades.csv"
    # generous per-notebook limit: a loaded CI machine imports torch slowly; only the sleeping notebook reaches it
    assert main(["grade", str(subs), "--out", str(out), "--timeout", "90"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    return rows, root / "grades_feedback"


def test_complete_submission_gets_every_point(graded):
    rows, _ = graded
    assert rows["ada"]["06:exponential_lr"] == rows["ada"]["06:cosine_lr"] == rows["ada"]["06:early_stop"] == "passed"
    assert (rows["ada"]["points"], rows["ada"]["max_points"], rows["ada"]["errors"]) == ("3", "3", "")


def test_partial_submission_is_graded_exercise_by_exercise(graded):
    rows, feedback = graded
    bob = rows["bob"]
    assert (bob["06:exponential_lr"], bob["06:cosine_lr"], bob["06:early_stop"]) == (
        "passed",
        "failed",
        "not attempted",
    )
    assert bob["points"] == "1" and rows["cyd"]["points"] == "0"
    assert {rows["cyd"][f"06:{name}"] for name in RIGHT} == {"not attempted"}
    text = (feedback / "bob.md").read_text(encoding="utf-8")
    assert "`cosine_lr`: **failed**" in text and "Hint:" in text and "`early_stop`: **not attempted**" in text


def test_broken_hanging_and_edited_notebooks_get_a_named_error_and_never_stop_the_others(graded):
    rows, feedback = graded
    assert "unreadable notebook" in rows["fay"]["errors"] and rows["fay"]["points"] == "0"
    assert "timeout" in rows["eve"]["errors"] and rows["eve"]["06:exponential_lr"] == "error"
    assert "check cells missing: cosine_lr" in rows["dan"]["errors"]
    assert rows["dan"]["06:cosine_lr"] == "not submitted" and rows["dan"]["points"] == "2"
    assert "unreadable notebook" in (feedback / "fay.md").read_text(encoding="utf-8")


def test_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "expected" in capsys.readouterr().err
