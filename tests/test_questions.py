"""Concept questions: the question files, the lessons' last cells, the widgets' feedback and what they record."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from tlcourse import questions
from tlcourse.checks import logbook
from tlcourse.cli import main

REPO = Path(__file__).resolve().parent.parent
LESSONS = [p for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")) if not p.name.startswith("00")]
RUN_06 = {"noise_photos": 2}


def test_every_lesson_but_00_has_a_valid_question_file():
    assert questions.lessons() == [p.name[:2] for p in LESSONS]
    for lesson in questions.lessons():
        found = questions.load(lesson)  # validates: 3-5 questions, ids unique, answers among the options
        assert 3 <= len(found) <= 5
        for q in found:
            assert q.explanation and q.where, f"lesson {lesson}, {q.id}: say why, and where the lesson shows it"
            if q.kind == "choice" and not q.answer_from:
                assert 0 <= int(q.answer or 0) < len(q.options)


def test_the_length_of_an_option_does_not_give_the_answer_away():
    """A quiz the longest option passes measures nothing: the right answer is the longest option of at most 40 %
    of the fixed-answer choice questions and the shortest of at most 40 %, and no option is more than 2.5 times
    as long as the shortest of its question, so that neither picking by length nor ruling out a one-line
    strawman beside a detailed answer gets a learner far."""
    fixed = [
        (lesson, q)
        for lesson in questions.lessons()
        for q in questions.load(lesson)
        if q.kind == "choice" and not q.answer_from
    ]
    assert len(fixed) >= 30
    longest = shortest = 0
    for lesson, q in fixed:
        lengths = [len(o) for o in q.options]
        right = lengths[int(q.answer or 0)]
        longest += right == max(lengths)
        shortest += right == min(lengths)
        assert max(lengths) <= 2.5 * min(lengths), f"lesson {lesson}, {q.id}: option lengths {lengths}"
    assert longest <= 0.4 * len(fixed), f"the right answer is the longest option in {longest} of {len(fixed)}"
    assert shortest <= 0.4 * len(fixed), f"the right answer is the shortest option in {shortest} of {len(fixed)}"


def test_lessons_that_compare_strategies_ask_about_their_own_run():
    run_dependent = {lesson for lesson in questions.lessons() if any(q.answer_from for q in questions.load(lesson))}
    assert {"01", "02", "03", "04", "06", "11", "12"} <= run_dependent


def _last_call(path: Path) -> ast.Call:
    nb = nbformat.read(path, as_version=4)
    heading, cell = nb.cells[-2:]
    assert heading.cell_type == "markdown" and heading.source.startswith(f"## {questions.HEADING}"), path.name
    assert cell.cell_type == "code" and not cell.outputs and cell.id == "questions-ask", path.name
    (call,) = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "")]
    return call


def _assigned(path: Path) -> set[str]:
    """Every name a lesson's code cells (before the last) assign, define or import."""
    names: set[str] = set()
    for cell in nbformat.read(path, as_version=4).cells[:-1]:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_each_lesson_ends_with_its_questions_and_hands_over_every_run_value(path):
    lesson, call = path.name[:2], _last_call(path)
    assert call.func.attr == "ask" and ast.literal_eval(call.args[0]) == lesson
    run = next((k.value for k in call.keywords if k.arg == "run"), ast.Dict(keys=[], values=[]))
    assert isinstance(run, ast.Dict)
    given = {ast.literal_eval(k) for k in run.keys if k is not None}
    needed = set().union(*(q.run_names() for q in questions.load(lesson)))
    assert given == needed, (
        f"{path.name}: the last cell hands over {sorted(given)}, the questions read {sorted(needed)}"
    )
    used = {n.id for n in ast.walk(run) if isinstance(n, ast.Name)} - {"max", "round", "len"}
    assert used <= _assigned(path), f"{path.name}: {sorted(used - _assigned(path))} not defined by the lesson"


def _table(**fields) -> str:
    """One [[question]] table: a valid number question, changed by `fields`."""
    merged = {"id": "a", "kind": "number", "prompt": "p", "explanation": "e", "where": "w", "answer": 1, **fields}
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in merged.items() if v is not None]
    return "[[question]]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", LESSONS[:1] + LESSONS[-1:], ids=lambda p: p.name)
def test_the_student_version_keeps_the_questions(path):
    from tlcourse.classroom.student import student_notebook

    student = student_notebook(nbformat.read(path, as_version=4))
    assert student.cells[-1].source == nbformat.read(path, as_version=4).cells[-1].source


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"kind": "choice", "options": ["x", "y"], "answer": 2}, "index"),
        ({"answer_from": "k"}, "exactly one"),
        ({"kind": "essay"}, "kind"),
        ({"id": "A b"}, "id"),
        ({"explanation": ""}, "'explanation' is empty"),
        ({"id": "b"}, "ids repeat"),
        ({"hint": "h"}, "unknown field"),
    ],
)
def test_a_bad_question_is_named_with_its_problem(tmp_path, monkeypatch, fields, problem):
    (tmp_path / "lesson99.toml").write_text(_table(**fields) + _table(id="b") + _table(id="c"))
    monkeypatch.setattr(questions, "HERE", tmp_path)
    with pytest.raises(questions.QuestionError, match=re.escape(problem)):
        questions.load("99")


def test_run_values_must_all_be_given_and_a_choice_must_be_an_option():
    found = questions.load("04")
    with pytest.raises(questions.QuestionError, match="needs run value"):
        questions.check_run("04", found, {})
    with pytest.raises(questions.QuestionError, match="not an option"):
        questions.check_run("04", found, {"best_far": "stage9"})


def test_the_answer_of_a_run_dependent_question_comes_from_the_run():
    (q,) = [q for q in questions.load("04") if q.id == "best_far_depth"]
    for best in ["stage4", "stage5"]:  # a GPU run with other settings: the answer follows it
        run = {"best_far": best}
        assert questions.is_right(q, q.options.index(best), run) and not questions.is_right(q, 0, run)
        assert f"was {best}" in questions.fill(q.explanation, run)
    (n,) = [q for q in questions.load("02") if q.id == "random_control"]
    assert questions.is_right(n, 20.5, {"pretrained_gain": 20.0}) and not questions.is_right(
        n, 22, {"pretrained_gain": 20}
    )


def test_static_html_folds_every_answer_and_fills_in_the_run():
    found = questions.load("01")
    html = questions.render_html("01", found, {"closes_at": 10, "winner_k1": "frozen"})
    assert html.count("<details>") == len(found) == html.count("Show the answer")
    assert "at which k" in html and "at k = 10" in html and "<strong>frozen</strong>" in html
    assert "{" not in re.sub(r"<[^>]+>", "", html), "no placeholder left unfilled"
    text = questions.render_text("01", found, {"closes_at": 10, "winner_k1": "frozen"})
    assert "Q1." in text and "Answers:" in text


def test_outside_a_notebook_ask_prints_the_questions(capsys):
    questions.ask("05")
    assert "Q1." in capsys.readouterr().out


def test_checking_an_answer_gives_feedback_and_counts_in_progress(tmp_data, monkeypatch, capsys):
    from tlcourse.questions.widgets import quiz

    monkeypatch.setenv(logbook.PROGRESS_ENV, "1")
    found = questions.load("06")
    box = quiz("06", found, RUN_06, {})
    first = box.children[1]  # the heading, then one box per question
    _prompt, control, button, feedback = first.children
    control.value = 0  # a wrong answer (the noise floor in photos is 2 here)
    button.click()
    assert "Not yet" in feedback.value and "noise floor" in feedback.value
    control.value = 2
    button.click()
    assert "Right" in feedback.value and "2 photo(s)" in feedback.value
    assert "1/5" in box.children[-2].value, "the progress row under the questions counts it"
    assert "answers={&#x27;noise_floor&#x27;: 2.0}" in box.children[-1].value, "the hand-in line, as plain data"
    assert [(e["check"], e["status"]) for e in logbook.read()] == [
        ("question:noise_floor", "failed"),
        ("question:noise_floor", "passed"),
    ]
    row = logbook.progress("06").rows[0]
    assert row.questions_right == 1 and len(row.questions) == 5 and row.count("passed") == 0
    assert "0 of 3 exercises passed in lesson 06. 1 of 5 questions right." in str(logbook.progress("06"))
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "questions right" in out
    line = next(line for line in out.splitlines() if line.startswith("06 hyperparameters"))
    assert line.split()[-2:] == ["1/5", "-"], line


def test_in_a_kernel_ask_shows_a_widget_with_the_static_html_beside_it(tmp_data):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('from tlcourse import questions\nquestions.ask("05")')]
    )
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    (out,) = nb.cells[0].outputs
    assert "application/vnd.jupyter.widget-view+json" in out.data
    assert out.data["text/html"].count("<details>") == len(questions.load("05"))
