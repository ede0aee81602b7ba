"""Concept questions in `tlcourse grade --include-questions`: answers read as plain data, never by running code.

A learner hands in answers in the lesson's last cell, `questions.ask("04", run={...}, answers={"xray_layers": 1})`
(the widgets print that line as they are answered). The grader reads the notebook file as submitted, finds the last
`ask` call for the lesson with the syntax tree, and takes `answers` with `ast.literal_eval`: a dict literal of
question id -> option index (choice) or number. Nothing the student's code can write is read (no logbook, no widget
state, no output), nothing of the submission runs to decide, and the answer key is the grader's installed question
files. Questions whose answer depends on the run (`answer_from`) are left out: the run's values come from the
student's own kernel, so no answer to them can be checked without trusting it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

from ..checks import Outcome
from ..questions import PREFIX, Question, is_right, load


class NotData(ValueError):
    """The hand-in is not plain data (a dict literal of id -> number)."""


def _is_ask(node: ast.AST, lesson: str) -> bool:
    """Whether `node` is a call `ask("NN", ...)` / `questions.ask("NN", ...)` for `lesson`."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = node.args[0]
    return name == "ask" and isinstance(first, ast.Constant) and first.value == lesson


def handed_in(nb: nbformat.NotebookNode, lesson: str) -> dict | None:
    """The `answers=` of the notebook's last `ask` call for `lesson`; None without one. NotData if not a literal."""
    found = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if _is_ask(node, lesson):
                assert isinstance(node, ast.Call)
                found = next((k.value for k in node.keywords if k.arg == "answers"), found)
    if found is None:
        return None
    try:
        answers = ast.literal_eval(found)
    except ValueError:
        raise NotData("answers= must be written as plain data, e.g. {'xray_layers': 1}, not computed") from None
    if not isinstance(answers, dict):
        raise NotData("answers= must be a dict of question id -> option index or number")
    return answers


def grade_one(lesson: str, q: Question, answers: dict) -> Outcome:
    """One question's outcome against the installed answer key."""
    name = PREFIX + q.id
    if q.id not in answers:
        return Outcome(name, lesson, "not attempted", "no answer handed in")
    right = is_right(q, answers[q.id], {})
    message = "right" if right else f"not right; look again at {q.where}"
    return Outcome(name, lesson, "passed" if right else "failed", message)


def question_outcomes(nb: nbformat.NotebookNode, lesson: str) -> dict[str, Outcome]:
    """Every gradable question of `lesson` ('question:<id>' -> outcome), from the notebook's source alone."""
    gradable = [q for q in load(lesson) if q.graded]
    try:
        answers = handed_in(nb, lesson) or {}
    except NotData as err:
        return {PREFIX + q.id: Outcome(PREFIX + q.id, lesson, "error", str(err)) for q in gradable}
    return {PREFIX + q.id: grade_one(lesson, q, answers) for q in gradable}


def from_file(path: Path, lesson: str) -> dict[str, Outcome]:
    """`question_outcomes` of the notebook file at `path` ({} when it cannot be read: its row says why already)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # nbformat raises several types for a damaged file; the check run named it
        return {}
    return question_outcomes(nb, lesson)
