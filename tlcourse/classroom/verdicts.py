"""The grader's own verdicts: every check call of a submission runs from code the student could not have replaced.

Before a notebook runs, the grader reads the check modules' source itself (`Pristine`). Each top-level call
`checks.check_<name>(args)` in the submission is rewritten, for the graded run only, into a call of
`kernel_checks.pristine_verdict`, sent as text: the same arguments, evaluated where the learner's call would have
been, are handed to fresh copies of the check code. The verdict comes back as an output of that very cell, with a
one-time nonce; what the kernel's own `checks` module, its outcome list or any log file say is never read for points.
The kernel's first cell, before any of the submission's, takes the snapshot of the libraries the checks compare with
(`kernel_checks.library_snapshot`): the fresh copies use those originals, and a verdict taken while the kernel's
libraries differ from the snapshot gives no points and names the difference.
"""

from __future__ import annotations

import ast
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import checks
from ..checks import CATALOG, Outcome
from . import kernel_checks

CHECKS_DIR = Path(checks.__file__).resolve().parent
KERNEL_CODE = Path(kernel_checks.__file__).read_text(encoding="utf-8")
FEEDBACK_HELPERS = ("record", "exercise", "ok", "fail", "outcomes")


@dataclass(frozen=True)
class Pristine:
    """The check code as the grader read it before any submission ran: sources, file digests, fingerprints."""

    sources: dict[str, str]
    files: dict[str, str]
    fingerprints: dict[str, dict[str, str]]
    wrapper: str
    feedback: dict[str, str]

    @classmethod
    def load(cls) -> Pristine:
        """Read the installed check modules (`tlcourse/checks/*.py`) and fingerprint every check."""
        texts = {p.stem: p.read_bytes() for p in sorted(CHECKS_DIR.glob("*.py"))}
        lessons = {stem.removeprefix("lesson"): text for stem, text in texts.items() if stem.startswith("lesson")}
        sources = {"feedback": texts["feedback"].decode("utf-8"), **{k: v.decode("utf-8") for k, v in lessons.items()}}
        digest = {stem: hashlib.sha256(text).hexdigest() for stem, text in texts.items()}
        files = {"tlcourse.checks": digest["__init__"], "tlcourse.checks.feedback": digest["feedback"]}
        files.update({f"tlcourse.checks.lesson{k}": digest[f"lesson{k}"] for k in lessons})
        fingerprints = {
            lesson: {name: kernel_checks.fingerprint(getattr(checks, f"check_{name}").__wrapped__) for name in names}
            for lesson, names in CATALOG.items()
        }
        wrapper = kernel_checks.fingerprint(getattr(checks, f"check_{CATALOG[min(CATALOG)][0]}"))
        feedback = {h: kernel_checks.fingerprint(getattr(checks.feedback, h)) for h in FEEDBACK_HELPERS}
        return cls(sources, files, fingerprints, wrapper, feedback)

    def expected(self, lesson: str) -> dict:
        """What `integrity_probe` compares the kernel against, for one lesson."""
        files = {k: v for k, v in self.files.items() if not k.startswith("tlcourse.checks.lesson")}
        files[f"tlcourse.checks.lesson{lesson}"] = self.files[f"tlcourse.checks.lesson{lesson}"]
        return {"files": files, "checks": self.fingerprints[lesson], "wrapper": self.wrapper, "feedback": self.feedback}


@dataclass
class Plan:
    """How one submission is run for grading: rewritten cells (index -> source), and the nonces to expect."""

    rewritten: dict[int, str] = field(default_factory=dict)
    nonces: dict[str, str] = field(default_factory=dict)  # nonce -> check name
    probe_nonce: str = ""
    snapshot: str = field(default_factory=lambda: f"_tlcourse_snapshot_{secrets.token_hex(8)}")  # its sys.modules key


def check_calls(tree: ast.Module, lesson: str) -> list[tuple[ast.Expr, ast.Call, str]]:
    """The top-level statements `checks.check_<name>(...)` of a cell, for the lesson's own checks."""
    calls = []
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            continue
        func = stmt.value.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "checks":
            name = func.attr.removeprefix("check_")
            if func.attr.startswith("check_") and name in CATALOG[lesson]:
                calls.append((stmt, stmt.value, name))
    return calls


def kernel_call(fn: str, entry: str, arguments: str, snapshot: str, call_args: str = "()") -> str:
    """Code that defines `fn` (running `kernel_checks.<entry>(arguments)` from the sent text), calls it, deletes it.

    The sent code runs with the builtins of the library snapshot (once it exists), not the kernel's.
    """
    return (
        f"def {fn}(*args, **kwargs):\n"
        f"    snapshot = __import__('sys').modules.get({snapshot!r})\n"
        f"    namespace = {{'__builtins__': getattr(snapshot, 'builtins', __builtins__)}}\n"
        f"    exec({KERNEL_CODE!r}, namespace)\n"
        f"    namespace[{entry!r}]({arguments})\n"
        f"try:\n    {fn}{call_args}\nfinally:\n    del {fn}\n"
    )


def verdict_call(pristine: Pristine, lesson: str, name: str, args_src: str, nonce: str, snapshot: str) -> str:
    """The code that replaces one check call: fresh check code, the learner's arguments, a verdict with `nonce`."""
    sources = {"feedback": pristine.sources["feedback"], lesson: pristine.sources[lesson]}
    arguments = f"{sources!r}, {lesson!r}, {name!r}, {nonce!r}, {snapshot!r}, args, kwargs"
    return kernel_call(f"_tlcourse_grader_{nonce}", "pristine_verdict", arguments, snapshot, args_src)


def rewrite_cell(source: str, lesson: str, pristine: Pristine, plan: Plan) -> str | None:
    """The cell with each check call replaced by its verdict call; None when the cell calls no check."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = check_calls(tree, lesson)
    if not calls:
        return None
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for stmt, call, name in reversed(calls):  # from the end, so earlier offsets stay valid
        segment = ast.get_source_segment(source, call) or ""
        func = ast.get_source_segment(source, call.func) or ""
        nonce = secrets.token_hex(8)
        plan.nonces[nonce] = name
        new = verdict_call(pristine, lesson, name, segment[len(func) :], nonce, plan.snapshot)
        begin = _offset(source, starts, stmt.lineno, stmt.col_offset)
        end = _offset(source, starts, stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0)
        before, after = source[:begin], source[end:].lstrip(" ;")
        source = before + ("\n" if before and not before.endswith("\n") else "") + new + after
    return source


def _offset(source: str, starts: list[int], lineno: int, col_bytes: int) -> int:
    """The character offset of (line, UTF-8 byte column), as the ast module gives positions."""
    line = source.splitlines(keepends=True)[lineno - 1]
    return starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8"))


def make_plan(nb: nbformat.NotebookNode, lesson: str, pristine: Pristine) -> Plan:
    """Insert the library snapshot as a first cell, rewrite every check call, and append the integrity probe."""
    plan = Plan(probe_nonce=secrets.token_hex(8))
    nb.cells.insert(0, nbformat.v4.new_code_cell("# tlcourse grade: library snapshot"))
    first = kernel_call(
        f"_tlcourse_snapshot_{plan.probe_nonce}", "library_snapshot", repr(plan.snapshot), plan.snapshot
    )
    plan.rewritten[0] = first
    for index, cell in enumerate(nb.cells[1:], start=1):
        if cell.cell_type == "code":
            new = rewrite_cell(cell.source, lesson, pristine, plan)
            if new is not None:
                plan.rewritten[index] = new
    arguments = f"{pristine.expected(lesson)!r}, {lesson!r}, {plan.probe_nonce!r}, {plan.snapshot!r}"
    probe = kernel_call(f"_tlcourse_probe_{plan.probe_nonce}", "integrity_probe", arguments, plan.snapshot)
    plan.rewritten[len(nb.cells)] = probe
    nb.cells.append(nbformat.v4.new_code_cell("# tlcourse grade: integrity probe"))
    return plan


def take_outputs(nb: nbformat.NotebookNode, mime: str) -> list[dict]:
    """Remove the grader's own outputs (of type `mime`) from the executed notebook, and return their data."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        keep = []
        for out in cell.get("outputs", []):
            data = out.get("data", {}) if out.get("output_type") == "display_data" else {}
            (found.append(data[mime]) if mime in data else keep.append(out))
        cell.outputs = keep
    return found


def read_verdicts(nb: nbformat.NotebookNode, lesson: str, plan: Plan) -> dict[str, Outcome]:
    """The verdicts the grader's own calls displayed (the last of each check winning); forged nonces are ignored."""
    verdicts = {}
    for data in take_outputs(nb, kernel_checks.VERDICT_MIME):
        name = plan.nonces.pop(str(data.get("nonce")), None)  # each nonce counts once
        if name is not None and data.get("check") == name:
            verdicts[name] = Outcome(name, lesson, str(data.get("status")), str(data.get("message")))
    return verdicts


def read_probe(nb: nbformat.NotebookNode, plan: Plan) -> dict | None:
    """The integrity probe's answer, or None when it did not run (time out, dead kernel, or a forged answer)."""
    answers = [d for d in take_outputs(nb, kernel_checks.PROBE_MIME) if d.get("nonce") == plan.probe_nonce]
    return answers[-1] if answers else None
