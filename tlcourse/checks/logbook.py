"""The learner's logbook: every exercise check, kept on this machine so that progress survives restarts.

Each check call appends one JSON line (`time`, `lesson`, `check`, `status`) to `<data>/progress/checks.jsonl`.
Nothing is sent anywhere. `TLCOURSE_PROGRESS=0` turns recording off (`make test`, the student-version tests and
`tlcourse grade` set it, so a learner's own file only ever holds the learner's work). Two notebooks open at once
append whole lines under a file lock, so no line is lost or doubled; a damaged file is set aside, named, and its
readable lines are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..paths import data_root

PROGRESS_ENV = "TLCOURSE_PROGRESS"
FIELDS = ("time", "lesson", "check", "status")


def enabled() -> bool:
    """Whether checks are recorded: yes unless $TLCOURSE_PROGRESS is 0, off, false or no."""
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "off", "false", "no"}


def logbook_path() -> Path:
    """Where the logbook lives: `<data>/progress/checks.jsonl` (the data folder is $TLCOURSE_DATA or `data/`)."""
    return data_root() / "progress" / "checks.jsonl"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `path` (a no-op where fcntl is missing, e.g. Windows: appends stay whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append(lesson: str, check: str, status: str, path: Path | None = None) -> None:
    """Add one check's outcome to the logbook as a single whole line (never raises: a check must still answer)."""
    if not enabled():
        return
    path = path or logbook_path()
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    line = json.dumps(dict(zip(FIELDS, (stamp, lesson, check, status), strict=True))) + "\n"
    try:
        with _locked(path):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
    except OSError as err:
        warnings.warn(f"could not record progress in {path}: {err}", stacklevel=2)


def _parse(line: str) -> dict | None:
    """One logbook entry, or None when the line is not one."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    ok = isinstance(entry, dict) and all(isinstance(entry.get(f), str) for f in FIELDS)
    return entry if ok else None


def read(path: Path | None = None) -> list[dict]:
    """Every entry, oldest first. A damaged file is renamed aside (with a warning naming it) and its good lines kept."""
    path = path or logbook_path()
    if not path.exists():
        return []
    with _locked(path):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        entries = [_parse(line) for line in lines if line.strip()]
        good = [e for e in entries if e is not None]
        if len(good) < len(entries):
            aside = path.with_name(f"checks.damaged-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.jsonl")
            path.rename(aside)
            path.write_text("".join(json.dumps(e) + "\n" for e in good), encoding="utf-8")
            warnings.warn(
                f"{path} had {len(entries) - len(good)} unreadable line(s): the file was set aside as {aside} "
                f"and its {len(good)} readable line(s) kept. Nothing else to do.",
                stacklevel=2,
            )
    return good


@dataclass(frozen=True)
class LessonProgress:
    """One lesson's row: each exercise's status (passed once passed, else its latest outcome), the last pass, and
    each concept question's status (`question:<id>`: passed once answered right)."""

    lesson: str
    statuses: dict[str, str]
    last_pass: str = ""
    questions: dict[str, str] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(s == status for s in self.statuses.values())

    @property
    def questions_right(self) -> int:
        """How many of the lesson's questions were answered right (at least once)."""
        return sum(s == "passed" for s in self.questions.values())

    @property
    def done(self) -> bool:
        return self.count("passed") == len(self.statuses)


NOT_RUN = "not yet run"
COLUMNS = ("passed", "failed", "not attempted", "error", NOT_RUN)
HEADER = ["lesson", "exercises", *COLUMNS, "questions right", "last pass"]


def lesson_progress(lesson: str, exercises: list[str], entries: list[dict]) -> LessonProgress:
    """A lesson's row from the logbook entries: an exercise passed once stays passed."""
    statuses, last_pass = dict.fromkeys(exercises, NOT_RUN), ""
    for entry in entries:
        if entry["lesson"] != lesson or entry["check"] not in statuses:
            continue
        if entry["status"] == "passed":
            last_pass = max(last_pass, entry["time"])
        if statuses[entry["check"]] != "passed":
            statuses[entry["check"]] = entry["status"]
    return LessonProgress(lesson, statuses, last_pass[:10])


def lesson_titles() -> dict[str, str]:
    """'03' -> '03 fine tuning' for the lesson notebooks the installed course carries (empty when it has none)."""
    from ..lessons import packaged_dir

    return {p.stem[:2]: p.stem.replace("_", " ") for p in sorted(packaged_dir().glob("[0-9][0-9]_*.ipynb"))}


@dataclass(frozen=True)
class ProgressReport:
    """The table `tlcourse progress` prints and lesson 00 shows: a row per lesson, and the next lesson to do."""

    rows: list[LessonProgress]
    titles: dict[str, str]

    @property
    def next_lesson(self) -> str:
        """The first lesson with an exercise not passed yet ('' when every exercise is passed)."""
        return next((row.lesson for row in self.rows if not row.done), "")

    def _cells(self, row: LessonProgress) -> list[str]:
        counts = [str(row.count(status)) for status in COLUMNS]
        questions = f"{row.questions_right}/{len(row.questions)}" if row.questions else "-"
        title = self.titles.get(row.lesson, row.lesson)
        return [title, str(len(row.statuses)), *counts, questions, row.last_pass or "-"]

    def summary(self) -> str:
        """One line: how far the learner is, and what to open next (for one lesson: how many are passed)."""
        if len(self.rows) == 1:
            row = self.rows[0]
            asked = f" {row.questions_right} of {len(row.questions)} questions right." if row.questions else ""
            return f"{row.count('passed')} of {len(row.statuses)} exercises passed in lesson {row.lesson}.{asked}"
        if not self.next_lesson:
            return "Every exercise passed. Well done!"
        row = next(row for row in self.rows if row.lesson == self.next_lesson)
        title = self.titles.get(row.lesson, f"lesson {row.lesson}")
        return f"Next: {title} ({len(row.statuses) - row.count('passed')} of {len(row.statuses)} exercises to pass)."

    def __str__(self) -> str:
        header = HEADER
        table = [header, *(self._cells(row) for row in self.rows)]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines = ["  ".join([r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:]))]) for r in table]
        return "\n".join([*lines, "", self.summary()])

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
        left = '<td style="text-align: left">'
        body = "".join(
            "<tr>"
            + "".join(f"{left if i == 0 else '<td>'}{escape(c)}</td>" for i, c in enumerate(self._cells(row)))
            + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{escape(self.summary())}</p>"


def progress(lesson: str | None = None, path: Path | None = None) -> ProgressReport:
    """The learner's progress from the logbook: every lesson with exercises, or one `lesson` ('03'), with the
    concept questions answered right beside the exercises."""
    from .feedback import CATALOG

    entries = read(path)
    lessons = [lesson] if lesson else sorted(CATALOG)
    unknown = [name for name in lessons if name not in CATALOG]
    if unknown:
        raise ValueError(f"no exercises for lesson {unknown[0]}; lessons with exercises: {', '.join(sorted(CATALOG))}")
    rows = [with_questions(lesson_progress(name, CATALOG[name], entries), entries) for name in lessons]
    return ProgressReport(rows, lesson_titles())


def with_questions(row: LessonProgress, entries: list[dict]) -> LessonProgress:
    """The row with its lesson's concept questions filled in from the logbook (`question:<id>` entries)."""
    from ..questions import PREFIX, lessons, load

    if row.lesson not in lessons():
        return row
    names = [PREFIX + q.id for q in load(row.lesson)]
    answered = lesson_progress(row.lesson, names, entries).statuses
    return LessonProgress(row.lesson, row.statuses, row.last_pass, answered)
