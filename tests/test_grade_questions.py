"""`tlcourse grade --include-questions`: handed-in answers read as plain data from the source, never from the kernel."""

import csv

import nbformat
import pytest

from tlcourse import questions
from tlcourse.classroom import answers
from tlcourse.cli import main

from .test_grade import RIGHT, lesson06

KEY = {q.id: int(q.answer or 0) for q in questions.load("06") if q.graded}  # noise_floor depends on the run: left out
FORGERY = (
    "from tlcourse.checks import logbook\n"
    "for q in ['lr_knob', 'batch_size', 'weight_decay', 'kfold']:\n"
    "    logbook.append('06', 'question:' + q, 'passed')\n"  # a fake logbook (TLCOURSE_PROGRESS=0 in grading anyway)
    "import tlcourse.questions as tq\n"
    "tq.is_right = lambda *args: True\n"  # a patched checker in the student's kernel
    "from IPython.display import display\n"
    "display({'application/vnd.tlcourse.verdict+json': {'check': 'question:lr_knob', 'status': 'passed'}}, raw=True)"
)


def ask_cell(handed_in: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(
        f'from tlcourse import questions\nquestions.ask("06", run={{"noise_photos": 2}}{handed_in})'
    )


def test_the_hand_in_is_read_as_data_and_anything_computed_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[ask_cell(f", answers={KEY!r}")])
    found = answers.question_outcomes(nb, "06")
    assert set(found) == {f"question:{q}" for q in KEY} and all(o.passed for o in found.values())
    nb.cells.append(ask_cell(", answers={'lr_knob': 0}"))  # the last call counts
    found = answers.question_outcomes(nb, "06")
    assert found["question:lr_knob"].status == "failed" and "look again at" in found["question:lr_knob"].message
    assert found["question:kfold"].status == "not attempted"
    computed = nbformat.v4.new_notebook(cells=[ask_cell(", answers={q: 1 for q in ['lr_knob']}")])
    assert {o.status for o in answers.question_outcomes(computed, "06").values()} == {"error"}
    assert {o.status for o in answers.question_outcomes(lesson06(RIGHT), "06").values()} == {"not attempted"}


@pytest.mark.slow  # grading runs notebooks in Jupyter kernels
def test_grade_counts_questions_only_when_asked_and_only_from_the_handed_in_answers(tmp_path):
    subs = tmp_path / "subs"
    honest = lesson06(RIGHT)
    honest.cells.append(ask_cell(f", answers={KEY!r}"))
    forger = lesson06(RIGHT, extra=FORGERY)
    forger.cells.append(ask_cell(", answers={'lr_knob': 0}"))
    for student, nb in {"gia": honest, "hal": forger}.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / "06_hyperparameters.ipynb")
    out = tmp_path / "grades.csv"
    assert main(["grade", str(subs), "--out", str(out), "--timeout", "120", "--include-questions"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert "06:question:noise_floor" not in rows["gia"], "a run-dependent question is not graded"
    assert (rows["gia"]["points"], rows["gia"]["max_points"], rows["gia"]["errors"]) == ("7", "7", "")
    hal = rows["hal"]
    assert hal["06:question:lr_knob"] == "failed" and hal["06:question:kfold"] == "not attempted"
    assert hal["points"] == "3", "only the three checks: the fake logbook, patch and output give nothing"
    feedback = (tmp_path / "grades_feedback" / "gia.md").read_text(encoding="utf-8")
    assert "7/7 checks and questions passed" in feedback
    assert main(["grade", str(subs), "--out", str(out), "--timeout", "120"]) == 0  # graded already: read back
    plain = next(csv.DictReader(out.open(encoding="utf-8")))
    assert plain["max_points"] == "3" and not any(k.startswith("06:question:") for k in plain)
