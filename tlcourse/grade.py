"""Grade submitted notebooks without JupyterHub: run each in a fresh kernel and read every exercise check's outcome.

Layout: `SUBMISSIONS_DIR/<student>/<NN_name>.ipynb`. The folder name is the student, the file name's two-digit
prefix the lesson (keep the released file names). Deeper folders work too (nbgrader's
`submitted/<student>/<assignment>/<notebook>.ipynb`): the first folder under SUBMISSIONS_DIR is the student.
Each notebook runs with $TLCOURSE_CHECK_LOG pointing at its own file, and `allow_errors`, so one wrong exercise
never hides the others; a notebook that cannot be read, runs out of time, or lost its check cells gets a named
error in its row and the others are graded as usual. Student code runs with your permissions: grade in a
container or a throwaway account.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from .checks import CATALOG, LOG_ENV, Outcome

MISSING = "not submitted"
NOT_RUN = "error"


@dataclass
class NotebookResult:
    """The outcome of every check of one submitted notebook, and the error that stopped it, if any."""

    student: str
    path: Path
    lesson: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(o.passed for o in self.outcomes.values())


def find_submissions(root: str | Path) -> list[tuple[str, Path]]:
    """(student, notebook) for every .ipynb under `root`, the student being the first folder below it."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; expected {root}/<student>/<NN_lesson>.ipynb")
    found = [
        (p.relative_to(root).parts[0], p)
        for p in sorted(root.rglob("*.ipynb"))
        if len(p.relative_to(root).parts) > 1 and ".ipynb_checkpoints" not in p.parts
    ]
    if not found:
        raise FileNotFoundError(f"no notebooks in {root}; expected {root}/<student>/<NN_lesson>.ipynb")
    return found


def lesson_of(path: Path) -> str:
    """The lesson number of a notebook from its file name ('01' for 01_pretraining.ipynb), '' if none."""
    match = re.match(r"(\d\d)", path.name)
    return match.group(1) if match and match.group(1) in CATALOG else ""


def missing_checks(nb: nbformat.NotebookNode, lesson: str) -> list[str]:
    """The lesson's checks whose call `checks.check_<name>(` no longer appears in any code cell."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return [name for name in CATALOG[lesson] if f"checks.check_{name}(" not in code]


def _cell_error(nb: nbformat.NotebookNode, name: str) -> str:
    """The error output of the cell that calls check `name`, as one line ('' if that cell shows no error)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and f"checks.check_{name}(" in cell.source:
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    return f"{out.ename}: {out.evalue}"
    return ""


def execute(nb: nbformat.NotebookNode, log: Path, timeout: float) -> str:
    """Run `nb` in a fresh kernel (cwd: the log's folder) within `timeout` seconds; '' or a named error."""
    deadline = time.monotonic() + timeout
    client = NotebookClient(
        nb,
        allow_errors=True,
        timeout_func=lambda _cell: max(1, deadline - time.monotonic()),
        startup_timeout=120,
        resources={"metadata": {"path": str(log.parent)}},
    )
    try:
        client.execute(env={**os.environ, LOG_ENV: str(log)})
    except CellTimeoutError:
        return f"timeout: still running after {timeout:g}s (the checks that ran before count)"
    except DeadKernelError as err:
        return f"kernel died: {err}"
    return ""


def read_log(log: Path) -> dict[str, Outcome]:
    """The outcomes a notebook's checks wrote to `log`, the last one of each check winning."""
    if not log.exists():
        return {}
    outcomes = [Outcome(**json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines() if line]
    return {o.check: o for o in outcomes}


def grade_notebook(student: str, path: Path, timeout: float = 600) -> NotebookResult:
    """Run one submitted notebook and collect its checks; never raises for a broken submission."""
    result, start = NotebookResult(student, path, lesson_of(path)), time.perf_counter()
    if not result.lesson:
        result.error = f"unknown lesson: {path.name} does not start with a lesson number ({', '.join(CATALOG)})"
        return result
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several types for a damaged file
        result.error = f"unreadable notebook: {type(err).__name__}: {str(err)[:200]}"
        return result
    if missing := missing_checks(nb, result.lesson):
        result.error = f"check cells missing: {', '.join(missing)} (start again from the released notebook)"
    with tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        log = Path(tmp) / "checks.jsonl"
        result.error = "; ".join(filter(None, [result.error, execute(nb, log, timeout)]))
        result.outcomes = read_log(log)
    for name in CATALOG[result.lesson]:
        if name not in result.outcomes and name not in missing:
            why = _cell_error(nb, name) or "the check did not run"
            result.outcomes[name] = Outcome(name, result.lesson, NOT_RUN, f"check did not run: {why}")
    result.seconds = time.perf_counter() - start
    return result


def grade_all(root: str | Path, timeout: float = 600, report=print) -> list[NotebookResult]:
    """Grade every notebook under `root`, one at a time, reporting a line per notebook through `report`."""
    results = []
    for student, path in find_submissions(root):
        result = grade_notebook(student, path, timeout)
        report(
            f"{student}/{path.name}: {result.points}/{len(CATALOG.get(result.lesson, []))} checks passed "
            f"in {result.seconds:.1f}s" + (f" [{result.error}]" if result.error else "")
        )
        results.append(result)
    return results
