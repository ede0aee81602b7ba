"""Grade submitted notebooks without JupyterHub: run each in a fresh kernel and read every exercise check's outcome.

Layout: `SUBMISSIONS_DIR/<student>/<NN_name>.ipynb`. The folder name is the student, the file name's two-digit
prefix the lesson (keep the released file names). Deeper folders work too (nbgrader's
`submitted/<student>/<assignment>/<notebook>.ipynb`): the first folder under SUBMISSIONS_DIR is the student.
Each notebook runs in a fresh kernel with `allow_errors`, so one wrong exercise never hides the others. Points come
only from the grader's own verdicts (`verdicts`: every check call runs from fresh copies of the check code
read before any student code ran, its answer read from that cell's output with a one-time nonce); nothing the
student's code can write (the `checks` module, its outcome list, a log file) is read for points. Tampering seen in
the source, in the kernel after the run, or on disk is named in the row as `tampered: ...` (`tamper`).
A notebook that cannot be read, runs out of time, or lost its check cells gets a named error in its row and the
others are graded as usual. Student code runs with your permissions: grade in a container or a throwaway account.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..checks import CATALOG, LOG_ENV, Outcome
from ..checks.logbook import PROGRESS_ENV
from . import tamper, verdicts

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


class GradingClient(NotebookClient):
    """nbclient's runner, except that the cells the plan rewrote run as rewritten (the notebook keeps its source)."""

    def __init__(self, nb: nbformat.NotebookNode, plan: verdicts.Plan, **kwargs) -> None:
        super().__init__(nb, **kwargs)
        self.plan = plan

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        source = self.plan.rewritten.get(cell_index)
        if source is None:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        original, cell.source = cell.source, source
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            cell.source = original


def execute(nb: nbformat.NotebookNode, plan: verdicts.Plan, env: dict, cwd: Path, timeout: float) -> str:
    """Run `nb` as planned in a fresh kernel (in `cwd`) within `timeout` seconds; '' or a named error."""
    deadline = time.monotonic() + timeout
    client = GradingClient(
        nb,
        plan,
        allow_errors=True,
        timeout_func=lambda _cell: max(1, deadline - time.monotonic()),
        startup_timeout=120,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute(env=env)
    except CellTimeoutError:
        return f"timeout: still running after {timeout:g}s (the checks that ran before count)"
    except DeadKernelError as err:
        return f"kernel died: {err}"
    return ""


def kernel_env(decoy: Path, threads: int | None) -> dict[str, str]:
    """The kernel's environment: the decoy check log, progress off, and at most `threads` threads when given."""
    env = {**os.environ, LOG_ENV: str(decoy), PROGRESS_ENV: "0"}
    if threads:
        env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def run_graded(nb: nbformat.NotebookNode, lesson: str, pristine: verdicts.Pristine, timeout: float, threads=None):
    """Run a submission with the grader's own checks; (verdicts, runtime tamper findings, execution error)."""
    plan = verdicts.make_plan(nb, lesson, pristine)
    with tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        decoy = Path(tmp) / "checks.jsonl"  # never read for points: lines here were written by the notebook itself
        env = kernel_env(decoy, threads)
        error = execute(nb, plan, env, Path(tmp), timeout)
        found = verdicts.read_verdicts(nb, lesson, plan)
        probe = verdicts.read_probe(nb, plan)
        findings = tamper.runtime_findings(probe, found, decoy)
    if probe is None and not error:
        findings.append("the grader's integrity check gave no answer (its output was removed or replaced)")
    nb.cells.pop()  # the probe cell the plan appended
    del nb.cells[0]  # and the snapshot cell it inserted
    return found, findings, error


def grade_notebook(
    student: str,
    path: Path,
    timeout: float = 600,
    pristine: verdicts.Pristine | None = None,
    threads: int | None = None,
) -> NotebookResult:
    """Run one submitted notebook and take the grader's own verdicts; never raises for a broken submission."""
    result, start = NotebookResult(student, path, lesson_of(path)), time.perf_counter()
    if not result.lesson:
        result.error = f"unknown lesson: {path.name} does not start with a lesson number ({', '.join(CATALOG)})"
        return result
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several types for a damaged file
        result.error = f"unreadable notebook: {type(err).__name__}: {str(err)[:200]}"
        return result
    missing = missing_checks(nb, result.lesson)
    findings = tamper.source_findings(nb)
    pristine = pristine or verdicts.Pristine.load()
    result.outcomes, runtime, error = run_graded(nb, result.lesson, pristine, timeout, threads)
    findings += [f for f in runtime if f not in findings]
    problems = [f"check cells missing: {', '.join(missing)} (start again from the released notebook)"] * bool(missing)
    problems += [f"tampered: {'; '.join(findings)}"] if findings else []
    result.error = "; ".join([*problems, error] if error else problems)
    for name in CATALOG[result.lesson]:
        if name not in result.outcomes and name not in missing:
            why = _cell_error(nb, name) or "the check did not run"
            result.outcomes[name] = Outcome(name, result.lesson, NOT_RUN, f"check did not run: {why}")
    result.seconds = time.perf_counter() - start
    return result
