"""The package's shape, as CONTRIBUTING describes it: functions a reader takes in at once, one name per network part."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tlcourse"
LONGEST = 50  # lines of a function's body, its docstring aside (the signature and Args list say what it takes)


def _bodies(path: Path):
    """(name, body lines without the docstring) of every function in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:]
            yield node.name, (body[-1].end_lineno - body[0].lineno + 1) if body else 0


@pytest.mark.parametrize("module", [*sorted((PACKAGE / "recipe").glob("*.py")), PACKAGE / "train.py"], ids=str)
def test_the_training_code_has_no_long_function(module):
    long = {name: lines for name, lines in _bodies(module) if lines > LONGEST}
    assert not long, f"{module.name}: functions over {LONGEST} lines: {long}"
