"""The ipywidgets front of the concept questions: one answer control and a Check button per question, feedback at once.

A right answer shows the explanation; a wrong one says where in the lesson to look, and the learner tries again.
Every check is recorded in the logbook (`questions.record`), and the lesson's progress row under the questions is
redrawn, so the learner sees it count.
"""

from __future__ import annotations

from html import escape

import ipywidgets as w

from . import HEADING, Question, fill, inline, is_right, record

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def progress_html(lesson: str) -> str:
    """The lesson's progress row (exercises and questions) as an HTML table."""
    from ..checks.logbook import progress

    return progress(lesson)._repr_html_()


def hand_in_line(lesson: str, given: dict) -> str:
    """The line a graded hand-in puts in the last cell: the answers so far, as plain data."""
    answers = ", ".join(f"{k!r}: {v!r}" for k, v in given.items())
    call = f'questions.ask("{lesson}", ..., answers={{{answers}}})'
    lead = "Handing this lesson in for a grade? Make the last cell read"
    return f"<p><small>{lead} <code>{escape(call)}</code>.</small></p>"


def letter(index: int) -> str:
    """An option's letter: A, B, C, ..."""
    return chr(65 + index)


def prompt_html(number: int, q: Question, run: dict) -> str:
    """The question and, for a choice, its options lettered A, B, C (long options wrap as text, not as buttons)."""
    options = "".join(f"<li>{inline(fill(o, run))}</li>" for o in q.options)
    return f"<p><strong>Q{number}.</strong> {inline(fill(q.prompt, run))}</p>" + (
        f'<ol type="A">{options}</ol>' if options else ""
    )


def control(q: Question, run: dict, preset: object) -> w.Widget:
    """The answer control: radio buttons A, B, C for a choice, a number box for a number."""
    if q.kind == "choice":
        options = [(letter(i), i) for i in range(len(q.options))]
        value = preset if isinstance(preset, int) and 0 <= preset < len(options) else None
        return w.RadioButtons(options=options, value=value, layout=w.Layout(width="auto"))
    return w.FloatText(value=float(preset) if isinstance(preset, (int, float)) else 0.0, description="answer")


def quiz(lesson: str, questions: list[Question], run: dict, answers: dict) -> w.VBox:
    """The lesson's questions as one widget box; each Check button records the answer and gives feedback."""
    given: dict[str, object] = {}
    status = w.HTML(progress_html(lesson))
    hand_in = w.HTML(hand_in_line(lesson, given))
    rows: list[w.Widget] = [w.HTML(f"<h3>{HEADING}</h3>")]
    for number, q in enumerate(questions, start=1):
        answer = control(q, run, answers.get(q.id))
        feedback = w.HTML()
        button = w.Button(description="Check", tooltip=f"check your answer to Q{number}")

        def on_check(_button, q=q, answer=answer, feedback=feedback) -> None:
            if answer.value is None:
                feedback.value = "<p>Pick an answer first.</p>"
                return
            right = is_right(q, answer.value, run)
            record(lesson, q, right)
            given[q.id] = answer.value
            feedback.value = (
                f'<p class="tlcourse-right">✅ Right. {inline(fill(q.explanation, run))}</p>'
                if right
                else f'<p class="tlcourse-wrong">❌ Not yet. Look again at {inline(fill(q.where, run))}, then try '
                "again.</p>"
            )
            status.value = progress_html(lesson)
            hand_in.value = hand_in_line(lesson, given)

        button.on_click(on_check)
        prompt = w.HTML(prompt_html(number, q, run))
        rows.append(w.VBox([prompt, answer, button, feedback], layout=w.Layout(margin="0 0 12px 0")))
    return w.VBox([*rows, status, hand_in], _dom_classes=["tlcourse-quiz"])
