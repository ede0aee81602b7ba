"""Student notebooks (solutions stubbed) run top to bottom with no error other than the stubs' NotImplementedError.

Running every student version takes as long as running every lesson again (28 min of CI's 48 in December 2026),
though a student version differs from its lesson only where a stub is. So the guarantee is split in two:

* **The proof, for every lesson, in a second** (`test_student_version_differs_only_at_the_stubs`): every stub sits
  inside a function or class body, so defining it runs as before; an exercise's cell only defines (never calls) it;
  the only other cell that names it is its check cell, which starts with the check call, and nothing that cell sets
  after the call is read later (a stub's check stops the cell there); and no check catches the NotImplementedError
  a stub raises (the checks' decorator lets it through: tests/test_checks.py). Then every other cell of the student
  version runs exactly the code and state of the lesson, which the nbval run of the lessons (`make test-lessons`)
  runs top to bottom: each stub costs one NotImplementedError, in its check cell.
* **The witness, for two lessons, really run** (`test_student_notebook_runs_with_only_stub_errors`): lesson 02 and
  lesson 10 (whose checks run the learner's code in other processes and pass its NotImplementedError back), in a
  kernel, as a learner runs them. `make test-student-all` runs every student version this way (about 25 minutes).
"""

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

from tlcourse.classroom.student import BEGIN, STUB, make_student_notebooks, strip_solutions

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if BEGIN in p.read_text())
WITNESSES = ["02_feature_extraction.ipynb", "10_scaling_out.ipynb"]
# A check whose own `except` could swallow NotImplementedError must have a witness lesson that really runs its stubs.
CHECKS_WITH_HANDLERS_WITNESSED = {"lesson10.py"}
CATCHES_STUB = {"Exception", "BaseException", "RuntimeError", "NotImplementedError"}


def python_of(cell_source: str) -> ast.Module:
    """A code cell's Python (IPython magics turned into calls, as the kernel runs them)."""
    return ast.parse(TransformerManager().transform_cell(cell_source))


def names_read(tree: ast.AST) -> set[str]:
    """Every bare name the code reads (not attributes: `lora.LoRALinear` is the package's), magics' code included."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith(("run_line_magic", "run_cell_magic")):
            names |= set(re.findall(r"[A-Za-z_]\w*", " ".join(ast.literal_eval(a) for a in node.args[1:])))
    return names


def names_bound(statements: list[ast.stmt]) -> set[str]:
    """Every bare name the statements assign, define or import."""
    module = ast.Module(body=statements, type_ignores=[])
    names = {n.id for n in ast.walk(module) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {n.name for n in ast.walk(module) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return names | {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(module)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }


def stub_outside_a_body(tree: ast.Module) -> bool:
    """True if a stub's `raise` runs when the cell runs (at the cell's top level, not inside a def or class)."""
    return any(isinstance(node, ast.Raise) for node in tree.body)


def is_check_cell(tree: ast.Module, name: str) -> bool:
    """The cell starts with `checks.check_...(...)` with `name` among its arguments."""
    if not tree.body or not isinstance(tree.body[0], ast.Expr) or not isinstance(tree.body[0].value, ast.Call):
        return False
    call = tree.body[0].value
    called = ast.unparse(call.func)
    return called.startswith("checks.check_") and name in names_read(ast.Module(body=[ast.Expr(a) for a in call.args]))


def stub_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Where the student version of `nb` could differ from the lesson beyond one NotImplementedError per stub."""
    problems, exercises = [], {}
    code = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, source in code:
        if BEGIN not in source:
            continue
        student = python_of(strip_solutions(source))
        if stub_outside_a_body(student):
            problems.append(f"cell {i}: a stub at the cell's top level stops the cell when it runs")
        defined = [
            n.name
            for n in student.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))
            and STUB in ast.get_source_segment(strip_solutions(source), n)
        ]
        if not defined:
            problems.append(f"cell {i}: an exercise cell defines no function or class")
        called = names_read(
            ast.Module(body=[n for n in student.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))])
        )
        problems += [f"cell {i}: calls its own exercise {n}" for n in defined if n in called]
        exercises.update({name: i for name in defined})
    for name, where in exercises.items():
        users = [(i, python_of(s)) for i, s in code if i != where and name in names_read(python_of(s))]
        checks = [(i, tree) for i, tree in users if is_check_cell(tree, name)]
        problems += [f"cell {i} uses exercise {name} outside its check" for i, _ in users if i not in dict(checks)]
        if len(checks) != 1:
            problems.append(f"exercise {name} (cell {where}) has {len(checks)} check cells, not 1")
        for i, tree in checks:  # after a stub's check raises, the rest of its cell does not run: nothing may need it
            skipped = names_bound(tree.body[1:])
            later = [j for j, s in code if j > i and skipped & names_read(python_of(s))]
            problems += [f"cell {j} reads what check cell {i} sets after its check" for j in later]
    return problems


def test_strip_solutions_keeps_indentation_and_code_around():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\ncheck(f)"
    out = strip_solutions(src)
    assert "return x + y" not in out and "    raise NotImplementedError(" in out and out.endswith("check(f)")


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="Unbalanced"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_every_lesson_has_exercises():
    assert LESSONS, "no notebook has exercises"
    assert set(WITNESSES) <= set(LESSONS)


@pytest.mark.parametrize("name", LESSONS)
def test_student_version_differs_only_at_the_stubs(name):
    assert stub_problems(nbformat.read(NOTEBOOKS / name, as_version=4)) == []


def test_the_proof_finds_what_a_real_run_would():
    """Each way a student version could break the lesson is named (so the proof above can fail)."""

    def nb(*sources):
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])

    exercise = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert stub_problems(nb(exercise, "checks.check_f(f)")) == []
    assert stub_problems(nb(exercise, "checks.check_f(f)", "y = f(1)")) == ["cell 2 uses exercise f outside its check"]
    assert stub_problems(nb(exercise + "\nprint(f(1))", "checks.check_f(f)")) == ["cell 0: calls its own exercise f"]
    assert "has 0 check cells" in stub_problems(nb(exercise, "print(1)\nchecks.check_f(f)"))[-1]
    skipped = nb(exercise, "checks.check_f(f)\nz = 1", "print(z)")
    assert stub_problems(skipped) == ["cell 2 reads what check cell 1 sets after its check"]
    assert "top level" in stub_problems(nb("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))[0]
    assert stub_problems(nb(exercise, "checks.check_f(f)", "%timeit f(1)")) == [
        "cell 2 uses exercise f outside its check"
    ]


def test_no_check_swallows_a_stub_unless_a_witness_runs_it():
    """An `except` in a check that could catch NotImplementedError is only allowed where a witness lesson runs it."""
    found = set()
    for path in sorted((REPO / "tlcourse" / "checks").glob("lesson*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler):
                caught = set() if node.type is None else {ast.unparse(node.type).split(".")[-1]}
                if node.type is None or caught & CATCHES_STUB:
                    found.add(path.name)
    assert found <= CHECKS_WITH_HANDLERS_WITNESSED, found - CHECKS_WITH_HANDLERS_WITNESSED
    assert STUB.startswith("raise NotImplementedError(")


@pytest.mark.student
@pytest.mark.slow
@pytest.mark.parametrize("name", WITNESSES if os.environ.get("TLCOURSE_STUDENT_ALL") != "1" else LESSONS)
def test_student_notebook_runs_with_only_stub_errors(name, tmp_path):
    path = next(p for p in make_student_notebooks(NOTEBOOKS, tmp_path) if p.name == name)
    nb = nbformat.read(path, as_version=4)
    stubs = sum(cell.source.count("raise NotImplementedError") for cell in nb.cells if cell.cell_type == "code")
    client = NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env={**os.environ, "TLCOURSE_PROGRESS": "0"})  # a test run is no learner's progress
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    unexpected = [f"{e.ename}: {e.evalue}" for e in errors if e.ename != "NotImplementedError"]
    assert not unexpected, unexpected
    assert stubs > 0 and len(errors) == stubs, f"{stubs} stubs but {len(errors)} NotImplementedError outputs"
