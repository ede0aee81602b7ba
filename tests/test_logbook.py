"""The learner's logbook and `tlcourse progress`: recorded locally, whole lines under concurrency, damage set aside."""

import json
import subprocess
import sys

import pytest

from tlcourse import checks
from tlcourse.checks import logbook
from tlcourse.cli import main

RIGHT_EXP = "lambda step, steps, start_lr, end_lr: start_lr * (end_lr / start_lr) ** (step / (steps - 1))"


@pytest.fixture
def recording(tmp_data, monkeypatch):
    monkeypatch.setenv(logbook.PROGRESS_ENV, "1")
    return tmp_data / "progress" / "checks.jsonl"


def run_checks(code: str) -> None:
    """Run checks in a new Python process, as a restarted kernel would."""
    subprocess.run([sys.executable, "-c", f"from tlcourse import checks\n{code}"], check=True, capture_output=True)


def test_every_check_call_is_recorded_and_survives_a_restart(recording):
    run_checks(f"checks.check_exponential_lr({RIGHT_EXP})")
    run_checks("try:\n    checks.check_cosine_lr(lambda s, t, p: p)\nexcept AssertionError:\n    pass")
    entries = logbook.read()
    assert [(e["lesson"], e["check"], e["status"]) for e in entries] == [
        ("06", "exponential_lr", "passed"),
        ("06", "cosine_lr", "failed"),
    ]
    row = checks.progress("06").rows[0]
    assert row.statuses == {"exponential_lr": "passed", "cosine_lr": "failed", "early_stop": logbook.NOT_RUN}
    assert row.last_pass == entries[0]["time"][:10]


def test_a_pass_stays_passed_and_the_next_lesson_is_the_first_unfinished(recording):
    for name in checks.CATALOG["01"]:
        logbook.append("01", name, "passed")
    logbook.append("02", checks.CATALOG["02"][0], "passed")
    logbook.append("02", checks.CATALOG["02"][0], "failed")  # tinkering after a pass does not undo it
    report = checks.progress()
    assert report.rows[1].statuses[checks.CATALOG["02"][0]] == "passed"
    assert report.next_lesson == "02" and "Next:" in str(report) and "1 of 2 exercises to pass" in str(report)
    assert "<table>" in report._repr_html_() and "02 feature extraction" in report._repr_html_()


def test_recording_can_be_turned_off(recording, monkeypatch):
    monkeypatch.setenv(logbook.PROGRESS_ENV, "0")
    run_checks(f"checks.check_exponential_lr({RIGHT_EXP})")
    assert not recording.exists()


def test_two_notebooks_at_once_lose_and_double_no_line(recording):
    code = (
        "from tlcourse.checks import logbook\nfor i in range(300):\n    logbook.append('06', f'w{WHO}-{i}', 'passed')"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code.replace("WHO", str(w))]) for w in (1, 2)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    lines = recording.read_text().splitlines()
    names = [json.loads(line)["check"] for line in lines]
    assert len(names) == 600 and len(set(names)) == 600


def test_a_damaged_file_is_named_set_aside_and_its_good_lines_kept(recording):
    logbook.append("06", "exponential_lr", "passed")
    with recording.open("a") as f:
        f.write('{"time": "2026-01-01", "lesson": "06", "check": "cosi')  # a write cut short
    with pytest.warns(UserWarning, match="set aside as .*checks.damaged-"):
        entries = logbook.read()
    assert [e["check"] for e in entries] == ["exponential_lr"]
    (aside,) = recording.parent.glob("checks.damaged-*.jsonl")
    assert "cosi" in aside.read_text() and len(recording.read_text().splitlines()) == 1
    assert checks.progress("06").rows[0].statuses["exponential_lr"] == "passed"  # and no crash afterwards


def test_tlcourse_progress_on_a_fresh_data_folder(recording, capsys):
    assert main(["progress"]) == 0
    assert "Next: 01 pretraining" in capsys.readouterr().out
    run_checks(f"checks.check_exponential_lr({RIGHT_EXP})")
    assert main(["progress", "--lesson", "06"]) == 0
    out = capsys.readouterr().out
    assert "06 hyperparameters" in out and str(recording) in out
    assert main(["progress", "--lesson", "00"]) == 2
