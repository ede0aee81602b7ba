"""`tlcourse grade --jobs N`, resumable grading and shards: the same table whatever N, nothing graded twice."""

import csv

import nbformat
import pytest

from tests.test_grade import RIGHT, lesson06, stub
from tlcourse.cli import main

pytestmark = pytest.mark.slow  # grading runs notebooks in Jupyter kernels


def table(path):
    """The grades table without its `seconds` column (the one column that differs from run to run)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(path.open(encoding="utf-8"))]


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs") / "submissions"
    wrong = "def cosine_lr(step, total_steps, peak_lr):\n    return peak_lr"
    notebooks = {
        "ada": lesson06(RIGHT),
        "bob": lesson06({**RIGHT, "cosine_lr": wrong, "early_stop": stub("early_stop")}),
        "cyd": lesson06({name: stub(name) for name in RIGHT}),
        "dan": lesson06({**RIGHT, "exponential_lr": stub("exponential_lr")}),
    }
    for student, nb in notebooks.items():
        (root / student).mkdir(parents=True)
        nbformat.write(nb, root / student / "06_hyperparameters.ipynb")
    return root


@pytest.fixture(scope="module")
def one_at_a_time(subs):
    """The class graded one notebook at a time, as two shards (two machines) whose results are merged."""
    parts = []
    for i in (1, 2):
        out = subs.parent / f"machine{i}" / "grades.csv"
        assert main(["grade", str(subs), "--out", str(out), "--shard", f"{i}/2"]) == 0
        parts.append(str(out.with_suffix(".jsonl")))
    merged = subs.parent / "merged.csv"
    assert main(["grade", "--merge", *parts, "--out", str(merged)]) == 0
    return table(merged)


def test_two_at_a_time_gives_the_same_table_and_says_how_it_shares_the_cores(subs, one_at_a_time, capsys):
    out = subs.parent / "parallel" / "grades.csv"
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "grading 4 notebook(s), 2 at a time" in printed and "thread(s) per kernel" in printed
    assert table(out) == one_at_a_time
    # a rerun skips what is graded, and regrades a resubmitted (changed) notebook only
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "2"]) == 0
    assert "grading 0 notebook(s)" in capsys.readouterr().out and table(out) == one_at_a_time
    path = subs / "cyd" / "06_hyperparameters.ipynb"
    submitted = path.read_bytes()
    nbformat.write(lesson06({**RIGHT, "early_stop": stub("early_stop")}), path)
    try:
        assert main(["grade", str(subs), "--out", str(out), "--jobs", "2"]) == 0
        assert "grading 1 notebook(s)" in capsys.readouterr().out
        assert {r["student"]: r["points"] for r in table(out)}["cyd"] == "2"
    finally:
        path.write_bytes(submitted)  # the very same file: the tests after this one find it graded


def test_an_interrupted_run_resumes_where_it_stopped(subs, one_at_a_time, capsys):
    out = subs.parent / "machine1" / "grades.csv"  # holds the first shard only, as if stopped halfway
    capsys.readouterr()
    assert main(["grade", str(subs), "--out", str(out)]) == 0
    assert "grading 2 notebook(s)" in capsys.readouterr().out and table(out) == one_at_a_time
    assert [r["points"] for r in one_at_a_time] == ["3", "1", "0", "2"]
    assert main(["grade", str(subs), "--out", str(out), "--shard", "1/4", "--regrade"]) == 0
    assert "grading 1 notebook(s)" in capsys.readouterr().out


def test_bad_options_are_clear_errors(subs, tmp_path, capsys):
    assert main(["grade", str(subs), "--out", str(tmp_path / "g.csv"), "--shard", "3/2"]) == 2
    assert "--shard 3/2" in capsys.readouterr().err
    assert main(["grade", str(subs), "--out", str(tmp_path / "g.csv"), "--jobs", "0"]) == 2
    assert main(["grade", "--out", str(tmp_path / "g.csv")]) == 2
