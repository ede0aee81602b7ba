"""What `tlcourse grade` writes: one CSV row per student, one column per exercise, and a feedback file per student."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from ..checks import CATALOG
from ..questions import PREFIX, load
from .grade import MISSING, NotebookResult

ICONS = {"passed": "✅", "failed": "❌", "not attempted": "⬜", "error": "⚠️"}


def by_student(results: list[NotebookResult]) -> dict[str, list[NotebookResult]]:
    """The results grouped by student, students in alphabetical order."""
    grouped = defaultdict(list)
    for result in results:
        grouped[result.student].append(result)
    return dict(sorted(grouped.items()))


def columns(results: list[NotebookResult]) -> list[tuple[str, str]]:
    """(lesson, check) of every exercise of every lesson anyone submitted, in lesson then catalog order, then the
    lesson's graded concept questions (`question:<id>`, only with --include-questions)."""
    lessons = sorted({r.lesson for r in results if r.lesson})
    asked = {(r.lesson, name) for r in results for name in r.outcomes if name.startswith(PREFIX)}
    cols = []
    for lesson in lessons:
        cols += [(lesson, name) for name in CATALOG[lesson]]
        cols += sorted((key for key in asked if key[0] == lesson), key=lambda key: question_order(*key))
    return cols


def question_order(lesson: str, name: str) -> int:
    """A question's position in its lesson's question file."""
    ids = [PREFIX + q.id for q in load(lesson)]
    return ids.index(name) if name in ids else len(ids)


def student_row(student: str, results: list[NotebookResult], cols: list[tuple[str, str]]) -> dict[str, str]:
    """One CSV row: each exercise's status, points (checks passed) out of the lessons' total, and errors."""
    found = {(r.lesson, name): o.status for r in results for name, o in r.outcomes.items()}
    row = {"student": student, **{f"{lesson}:{name}": found.get((lesson, name), MISSING) for lesson, name in cols}}
    row["points"] = str(sum(r.points for r in results))
    row["max_points"] = str(len(cols))
    row["errors"] = " | ".join(f"{r.path.name}: {r.error}" for r in results if r.error)
    row["seconds"] = f"{sum(r.seconds for r in results):.1f}"
    return row


def write_csv(results: list[NotebookResult], out: str | Path) -> Path:
    """Write the grades table (one row per student) to `out`."""
    out, cols = Path(out), columns(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["student", *(f"{lesson}:{name}" for lesson, name in cols), "points", "max_points", "errors", "seconds"]
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for student, mine in by_student(results).items():
            writer.writerow(student_row(student, mine, cols))
    return out


def feedback_text(student: str, results: list[NotebookResult]) -> str:
    """A student's feedback in markdown: per notebook, the error if any, then each check's status and message."""
    lines = [f"# Feedback for {student}", ""]
    for r in sorted(results, key=lambda r: r.path.name):
        questions = sum(name.startswith(PREFIX) for name in r.outcomes)
        total = len(CATALOG.get(r.lesson, [])) + questions
        what = "checks and questions" if questions else "checks"
        lines += [f"## {r.path.name}: {r.points}/{total} {what} passed", ""]
        if r.error:
            lines += [f"**Problem with this notebook:** {r.error}", ""]
        for name, outcome in r.outcomes.items():
            message = outcome.message.strip().replace("\n", "\n  ")
            lines += [f"- {ICONS.get(outcome.status, '')} `{name}`: **{outcome.status}**. {message}"]
        lines.append("")
    return "\n".join(lines)


def write_feedback(results: list[NotebookResult], folder: str | Path) -> list[Path]:
    """Write `<folder>/<student>.md` for every student; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student, mine in by_student(results).items():
        path = folder / f"{student}.md"
        path.write_text(feedback_text(student, mine), encoding="utf-8")
        written.append(path)
    return written
