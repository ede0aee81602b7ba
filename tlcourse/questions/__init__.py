"""Concept questions at the end of every lesson: loaded from data, checked, and shown as widgets or as static HTML.

Each lesson's questions live in `tlcourse/questions/lessonNN.toml` (one `[[question]]` table each): an `id`, a
`kind` (`choice` or `number`), a `prompt`, the `options` of a choice, the `answer` (a choice's index, or a number
with a `tolerance`), an `explanation` and `where` (the cell, figure or printed line of the lesson that measured it).
A question whose answer depends on the run names the run value instead: `answer_from = "winner_k1"`; the lesson's
last cell hands it over, `questions.ask("04", run={"winner_k1": ...})`, and `{winner_k1}` (or `{gap:.1%}`) in the
text is replaced with it. In JupyterLab `ask` shows ipywidgets with instant feedback and records each answer in the
learner's logbook as check `question:<id>` (`tlcourse progress` counts them apart from the exercises). The same
output carries a static HTML rendering, with the answers folded in `<details>`, which the course site shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
KINDS = ("choice", "number")
PREFIX = "question:"  # logbook check names of questions: question:<id>
PLACEHOLDER = re.compile(r"\{(\w+)(:[^}]*)?\}")
HEADING = "Check your understanding"


@dataclass(frozen=True)
class Question:
    """One concept question: what is asked, the answer (or the run value holding it), and where the lesson shows it."""

    id: str
    kind: str
    prompt: str
    explanation: str
    where: str
    options: tuple[str, ...] = ()
    answer: float | None = None
    tolerance: float = 0.0
    answer_from: str = ""

    @property
    def graded(self) -> bool:
        """Whether `tlcourse grade --include-questions` can grade it: only when the answer does not depend on a run."""
        return not self.answer_from

    def run_names(self) -> set[str]:
        """The run values this question reads: its `answer_from` and every `{name}` in its text."""
        text = " ".join([self.prompt, self.explanation, self.where, *self.options])
        return {m.group(1) for m in PLACEHOLDER.finditer(text)} | ({self.answer_from} if self.answer_from else set())


class QuestionError(ValueError):
    """A question file (or the run values handed to `ask`) is not what the questions need."""


def lessons() -> list[str]:
    """The lessons that have questions ('01', '02', ...)."""
    return sorted(p.stem.removeprefix("lesson") for p in HERE.glob("lesson[0-9][0-9].toml"))


def _question(lesson: str, raw: dict) -> Question:
    """One question from its TOML table, validated (QuestionError names the lesson, the question and the problem)."""
    qid = str(raw.get("id", ""))

    def bad(problem: str) -> QuestionError:
        return QuestionError(f"lesson {lesson}, question {qid or '?'}: {problem}")

    known = {"id", "kind", "prompt", "explanation", "where", "options", "answer", "tolerance", "answer_from"}
    if unknown := sorted(set(raw) - known):
        raise bad(f"unknown field(s) {', '.join(unknown)}")
    if not re.fullmatch(r"[a-z0-9_]+", qid):
        raise bad("the id must be lower-case letters, digits and underscores")
    for name in ("prompt", "explanation", "where"):
        if not str(raw.get(name, "")).strip():
            raise bad(f"'{name}' is empty")
    q = Question(
        id=qid,
        kind=str(raw.get("kind")),
        prompt=raw["prompt"].strip(),
        explanation=raw["explanation"].strip(),
        where=raw["where"].strip(),
        options=tuple(str(o) for o in raw.get("options", ())),
        answer=raw.get("answer"),
        tolerance=float(raw.get("tolerance", 0.0)),
        answer_from=str(raw.get("answer_from", "")),
    )
    if q.kind not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}, not {q.kind!r}")
    if (q.answer is None) == (not q.answer_from):
        raise bad("give exactly one of 'answer' and 'answer_from'")
    if q.kind == "choice":
        if len(q.options) < 2 or len(set(q.options)) < len(q.options):
            raise bad("a choice needs at least two different options")
        if q.answer is not None and not (isinstance(q.answer, int) and 0 <= q.answer < len(q.options)):
            raise bad(f"the answer must be an option's index, 0 to {len(q.options) - 1}")
    elif q.options or q.tolerance < 0 or (q.answer is not None and not isinstance(q.answer, (int, float))):
        raise bad("a number has no options, a numeric answer and a tolerance of 0 or more")
    return q


def load(lesson: str) -> list[Question]:
    """The questions of `lesson` ('04'), validated: 3 to 5 of them, ids unique."""
    path = HERE / f"lesson{lesson}.toml"
    if not path.exists():
        raise QuestionError(f"no questions for lesson {lesson}; lessons with questions: {', '.join(lessons())}")
    raw = tomllib.loads(path.read_text(encoding="utf-8")).get("question", [])
    questions = [_question(lesson, r) for r in raw]
    ids = [q.id for q in questions]
    if len(set(ids)) < len(ids):
        raise QuestionError(f"lesson {lesson}: question ids repeat: {', '.join(sorted(ids))}")
    if not 3 <= len(questions) <= 5:
        raise QuestionError(f"lesson {lesson}: {len(questions)} questions; a lesson ends with 3 to 5")
    return questions


def check_run(lesson: str, questions: list[Question], run: dict) -> None:
    """Raise QuestionError when a run value the questions read is missing, or a choice's value is not an option."""
    for q in questions:
        if missing := sorted(q.run_names() - set(run)):
            raise QuestionError(f"lesson {lesson}, question {q.id} needs run value(s) {', '.join(missing)}")
        if q.kind == "choice" and q.answer_from and str(run[q.answer_from]) not in q.options:
            raise QuestionError(
                f"lesson {lesson}, question {q.id}: run value {q.answer_from}={run[q.answer_from]!r} is not an option"
            )


def fill(text: str, run: dict) -> str:
    """The text with every `{name}` / `{name:spec}` replaced by that run value (unknown names left as written)."""

    def one(match: re.Match) -> str:
        name, spec = match.group(1), (match.group(2) or ":")[1:]
        return format(run[name], spec) if name in run else match.group(0)

    return PLACEHOLDER.sub(one, text)


def right_answer(q: Question, run: dict) -> float:
    """The right answer: a choice's option index, or a number (from the run for a run-dependent question)."""
    if q.answer_from:
        value = run[q.answer_from]
        return q.options.index(str(value)) if q.kind == "choice" else float(value)
    return float(q.answer or 0) if q.kind == "number" else int(q.answer or 0)


def is_right(q: Question, given: object, run: dict) -> bool:
    """Whether `given` (an option index, or a number) answers `q` right."""
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        return False
    answer = right_answer(q, run)
    if q.kind == "choice":
        return given == answer
    return abs(float(given) - answer) <= q.tolerance + 1e-12


def answer_text(q: Question, run: dict) -> str:
    """The right answer in words: the option's letter and text (no closing full stop), or the number (with its
    tolerance)."""
    answer = right_answer(q, run)
    if q.kind == "choice":
        return f"{chr(ord('A') + int(answer))}. {fill(q.options[int(answer)], run).rstrip('.')}"
    within = f" (within {q.tolerance:g})" if q.tolerance else ""
    return f"{answer:g}{within}"


def inline(text: str) -> str:
    """Markdown-ish text as HTML: escaped, with `code` and **bold** marked up."""
    html = escape(text)
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)


def render_html(lesson: str, questions: list[Question], run: dict) -> str:
    """The questions as static HTML, each answer folded in a `<details>` (what the course site shows)."""
    items = []
    for number, q in enumerate(questions, start=1):
        options = "".join(f"<li>{inline(fill(o, run))}</li>" for o in q.options)
        listed = f'<ol type="A">{options}</ol>' if options else "<p><em>Answer with a number.</em></p>"
        items.append(
            f'<div class="tlcourse-question" id="question-{lesson}-{q.id}">'
            f"<p><strong>Q{number}.</strong> {inline(fill(q.prompt, run))}</p>{listed}"
            f"<details><summary>Show the answer</summary><p><strong>{inline(answer_text(q, run))}</strong>. "
            f"{inline(fill(q.explanation, run))}</p><p><em>Where the lesson shows it:</em> "
            f"{inline(fill(q.where, run))}</p></details></div>"
        )
    return f'<div class="tlcourse-questions" data-lesson="{lesson}">{"".join(items)}</div>'


def render_text(lesson: str, questions: list[Question], run: dict) -> str:
    """The questions as plain text (a terminal, or a front end without HTML), answers at the end."""
    lines = [f"Lesson {lesson}: {HEADING.lower()}", ""]
    for number, q in enumerate(questions, start=1):
        lines.append(f"Q{number}. {fill(q.prompt, run)}")
        lines += [f"  {chr(65 + i)}. {fill(o, run)}" for i, o in enumerate(q.options)]
        lines.append("")
    lines.append("Answers:")
    lines += [f"Q{n}. {answer_text(q, run)}. {fill(q.explanation, run)}" for n, q in enumerate(questions, start=1)]
    return "\n".join(lines)


def record(lesson: str, q: Question, right: bool) -> None:
    """Add one answer to the learner's logbook as check `question:<id>` (passed when right)."""
    from ..checks import logbook

    logbook.append(lesson, PREFIX + q.id, "passed" if right else "failed")


def ask(lesson: str, *, run: dict | None = None, answers: dict | None = None) -> None:
    """Show lesson `lesson`'s questions: widgets with instant feedback in JupyterLab, static HTML elsewhere.

    `run` hands over the run values the questions read; `answers` ({id: option index or number}) is a hand-in for
    `tlcourse grade --include-questions`, which reads it from the notebook's source (it pre-fills the widgets here).
    """
    questions, run = load(lesson), dict(run or {})
    check_run(lesson, questions, run)
    bundle = {"text/html": render_html(lesson, questions, run), "text/plain": render_text(lesson, questions, run)}
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:
        print(bundle["text/plain"])
        return
    from .widgets import WIDGET_MIME, quiz

    box = quiz(lesson, questions, run, answers or {})
    display({WIDGET_MIME: {"model_id": box.model_id, "version_major": 2, "version_minor": 0}, **bundle}, raw=True)
