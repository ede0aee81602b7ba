"""`tlcourse grade` against a clever student: submissions that forge their verdicts get 0 points and a named error."""

import csv

import nbformat
import pytest

from tests.test_grade import CHECKS, IMPORTS, RIGHT, lesson06, stub
from tlcourse.checks.logbook import logbook_path
from tlcourse.classroom import tamper, verdicts
from tlcourse.cli import main

pytestmark = pytest.mark.slow  # grading runs notebooks in Jupyter kernels

STUBS = {name: stub(name) for name in RIGHT}
# Replaces the three check functions with ones that print a pass, reaching the module without naming `checks`.
PATCH = (
    "m = __import__('tlcourse.checks', fromlist=['x'])\n"
    "for n in ['exponential_lr', 'cosine_lr', 'early_stop']:\n"
    "    m.__dict__['check_' + n] = (lambda n: lambda *a, **k: print('\\u2705 ' + n))(n)"
)
# Writes 'passed' lines where the old grader read its verdicts, the variable's name built so no text search finds it.
FORGE_LOG = (
    "import json, os\n"
    "with open(os.environ['TLCOURSE_' + 'CHECK_LOG'], 'a') as f:\n"
    "    for n in ['exponential_lr', 'cosine_lr', 'early_stop']:\n"
    "        f.write(json.dumps({'check': n, 'lesson': '06', 'status': 'passed', 'message': 'ok'}) + '\\n')"
)
FORGE_RECORDS = (
    "fb = __import__('tlcourse.checks.feedback', fromlist=['x'])\n"
    "getattr(fb, '_OUT' + 'COMES').append(fb.Outcome('cosine_lr', '06', 'passed', 'ok'))"
)
REDEFINE = (
    "class checks:\n"
    "    def __getattr__(self, name):\n"
    "        return lambda *a, **k: print('\\u2705 well done')\n"
    "checks = checks()"
)


def with_last_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("tamper")
    data = root / "data"
    subs = root / "submissions"
    notebooks = {
        "honest": lesson06(RIGHT),
        "stubbed": lesson06(STUBS),
        "patcher": lesson06(STUBS, extra=PATCH),
        "first": lesson06(STUBS, extra=FORGE_LOG),
        "last": with_last_cell(lesson06(STUBS), FORGE_LOG),
        "recorder": lesson06(STUBS, extra=FORGE_RECORDS),
        "redefiner": lesson06(STUBS, extra=REDEFINE),
    }
    for student, nb in notebooks.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / "06_hyperparameters.ipynb")
    out = root / "grades.csv"
    mp = pytest.MonkeyPatch()
    mp.setenv("TLCOURSE_DATA", str(data))
    mp.delenv("TLCOURSE_PROGRESS", raising=False)  # grading must leave the progress file alone by itself
    try:
        assert main(["grade", str(subs), "--out", str(out), "--timeout", "300"]) == 0
        progress_file = logbook_path()
    finally:
        mp.undo()
    rows = {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    return rows, progress_file


def test_honest_submissions_keep_their_grades(graded):
    rows, _ = graded
    assert (rows["honest"]["points"], rows["honest"]["errors"]) == ("3", "")
    assert (rows["stubbed"]["points"], rows["stubbed"]["errors"]) == ("0", "")
    assert {rows["stubbed"][f"06:{name}"] for name in RIGHT} == {"not attempted"}


@pytest.mark.parametrize(
    "student, named",
    [
        ("patcher", "checks.check_exponential_lr replaced or wrapped"),
        ("first", "outcomes recorded outside a check: cosine_lr, early_stop, exponential_lr marked passed"),
        ("last", "outcomes recorded outside a check"),
        ("recorder", "outcomes recorded outside a check: cosine_lr marked passed"),
        ("redefiner", "`checks` redefined"),
    ],
)
def test_forged_verdicts_get_no_points_and_a_named_error(graded, student, named):
    rows, _ = graded
    row = rows[student]
    assert row["points"] == "0", row
    assert "tampered:" in row["errors"] and named in row["errors"], row["errors"]
    assert {row[f"06:{name}"] for name in RIGHT} == {"not attempted"}


def test_grading_leaves_the_learners_progress_file_alone(graded):
    _, progress_file = graded
    assert not progress_file.exists()


def test_source_findings_name_the_cell_and_what_it_does():
    nb = lesson06(STUBS, extra="checks.check_cosine_lr = print\nfrom tlcourse.checks.feedback import record")
    found = tamper.source_findings(nb)
    assert "cell 2: assigns to `checks.check_cosine_lr`" in found
    assert "cell 2: imports `record` from tlcourse.checks.feedback" in found
    assert tamper.source_findings(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REDEFINE)])) == [
        "cell 1: rebinds the name `checks`"
    ]


def test_the_lessons_themselves_show_no_tampering():
    from tests.test_student_notebooks import NOTEBOOKS
    from tlcourse.classroom.student import student_notebook

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert tamper.source_findings(nb) == [], path.name
        assert tamper.source_findings(student_notebook(nb)) == [], f"student version of {path.name}"


def test_check_calls_are_rewritten_in_place_keeping_the_code_around_them():
    pristine, plan = verdicts.Pristine.load(), verdicts.Plan()
    source = "x = 1; checks.check_cosine_lr(\n    cosine_lr,\n)\nprint(x)"
    new = verdicts.rewrite_cell(source, "06", pristine, plan)
    assert new.startswith("x = 1; \ndef _tlcourse_grader_") and new.endswith("\nprint(x)")
    assert "(\n    cosine_lr,\n)\nfinally:" in new
    assert list(plan.nonces.values()) == ["cosine_lr"]
    compile(new, "<rewritten>", "exec")
    other = IMPORTS + "\n" + CHECKS["cosine_lr"].replace("checks.", "other.")
    assert verdicts.rewrite_cell(other, "06", pristine, plan) is None
