"""Naming tampering in a submission: code that reaches for the grading machinery, seen in the source and in the kernel.

The grader's verdicts do not depend on any of this (`verdicts` runs fresh copies of the checks). This module
tells the instructor *that* a student tried: each finding becomes `tampered: ...` in the student's row.

- In the source (`source_findings`): assigning to `checks.<anything>`, rebinding the name `checks`, touching the
  outcome records (`record`, `Outcome`, `_OUTCOMES`, TLCOURSE_CHECK_LOG), reloading modules or editing `sys.modules`
  / `sys.path`, and hooks into the interpreter (tracing, frames, IPython input transformers, ctypes). And patching
  any imported library (`libraries`): assigning to or deleting an attribute of a module or class the notebook
  imported (`torch.equal = ...`, `nn.Module.parameters = ...`; a plain constant such as a flag is not named),
  `setattr` / `delattr` on one (also through a loop over a literal list of modules), editing its `__dict__` or
  `vars()`, and assigning to an attribute of `sys.modules[...]` or `__builtins__`. A patch built so that no
  statement names the library is left to the kernel-side compare (`kernel_checks.library_changes`).
- In the kernel after the run (`runtime_findings`): the integrity probe's answer (checks replaced, wrapped or loaded
  from elsewhere), outcomes recorded as passed that the grader's own run of that check did not give, and lines
  written to the decoy TLCOURSE_CHECK_LOG file.
- On disk (`package_digest`): the installed tlcourse files, compared before and after each notebook.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import nbformat

from ..checks import Outcome

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the whole tlcourse package
RECORD_NAMES = {"record", "Outcome", "_OUTCOMES", "LOG_ENV", "CATALOG", "RECORD_TO_FILES", "logbook"}
HOOK_CALLS = {
    "sys.settrace": "traces the interpreter",
    "sys.setprofile": "traces the interpreter",
    "sys._getframe": "reads other functions' frames",
    "inspect.currentframe": "reads other functions' frames",
    "inspect.stack": "reads other functions' frames",
    "importlib.reload": "reloads a module",
    "gc.get_referrers": "reaches objects through the garbage collector",
    "gc.get_objects": "reaches objects through the garbage collector",
}
HOOK_NAMES = {"ctypes": "uses ctypes", "input_transformers_post": "rewrites the code of later cells"}
HOOK_NAMES |= {"input_transformers_cleanup": HOOK_NAMES["input_transformers_post"], "ast_transformers": "rewrites code"}


def dotted(node: ast.AST) -> str:
    """'sys.modules' for the expression sys.modules; '' for anything that is not a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _binds_checks(node: ast.AST) -> bool:
    """Whether a statement binds the name `checks` to something other than `from tlcourse import checks`."""
    if isinstance(node, ast.ImportFrom):
        return any((a.asname or a.name) == "checks" for a in node.names) and node.module != "tlcourse"
    if isinstance(node, ast.Import):
        return any(a.asname == "checks" and a.name != "tlcourse.checks" for a in node.names)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == "checks"
    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [getattr(node, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == "checks" for t in targets)


def libraries(trees: list[ast.Module]) -> frozenset[str]:
    """The names a notebook binds to imported libraries, and those a loop binds from a literal list of them."""
    names = {"__builtins__"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.asname or a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names |= {a.asname or a.name for a in node.names if a.name != "*"}
    for tree in trees:  # `for module in [torch, np]: setattr(module, ...)`
        for node in ast.walk(tree):
            if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, (ast.List, ast.Tuple, ast.Set)):
                items = [n for e in node.iter.elts for n in ast.walk(e) if isinstance(n, (ast.Name, ast.Attribute))]
                if any(dotted(n).split(".")[0] in names for n in items):
                    names |= {t.id for t in ast.walk(node.target) if isinstance(t, ast.Name)}
    return frozenset(names)


def library_expr(node: ast.AST, libs: frozenset[str]) -> str:
    """The text of an expression that is an imported library or part of one (`np`, `sys.modules['x']`); ''."""
    name = dotted(node)
    if name and name.split(".")[0] in libs:
        return name
    if isinstance(node, ast.Subscript) and dotted(node.value) == "sys.modules":
        return "sys.modules[...]"
    if isinstance(node, ast.Call) and node.args:  # __import__('numpy'), importlib.import_module(...), vars(np)
        func = dotted(node.func)
        if func in {"__import__", "importlib.import_module"} or (func == "vars" and library_expr(node.args[0], libs)):
            return ast.unparse(node)
    if isinstance(node, ast.Attribute):
        base = library_expr(node.value, libs)
        return f"{base}.{node.attr}" if base else ""
    return ""


def library_findings(node: ast.AST, libs: frozenset[str]) -> list[str]:
    """What one syntax node does to an imported library: assigns to it, setattr/delattr, `__dict__` edits."""
    found = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        constant = isinstance(getattr(node, "value", None), ast.Constant)  # a flag or a setting, not a function
        for target in targets:
            if isinstance(target, ast.Attribute) and not constant and (where := library_expr(target, libs)):
                found.append(f"{'deletes' if isinstance(node, ast.Delete) else 'assigns to'} `{where}`")
            if isinstance(target, ast.Subscript) and _is_dict_of_library(target.value, libs):
                found.append(f"edits `{ast.unparse(target.value)}`")
    if isinstance(node, ast.Call):
        func = node.func
        if dotted(func) in {"setattr", "delattr"} and node.args and library_expr(node.args[0], libs):
            found.append(f"calls `{dotted(func)}` on `{ast.unparse(node.args[0])}`")
        if isinstance(func, ast.Attribute) and _is_dict_of_library(func.value, libs):
            found.append(f"edits `{ast.unparse(func.value)}`")
    return found


def _is_dict_of_library(node: ast.AST, libs: frozenset[str]) -> bool:
    """Whether `node` is `<library>.__dict__` or `vars(<library>)`."""
    if isinstance(node, ast.Attribute) and node.attr == "__dict__":
        return bool(library_expr(node.value, libs))
    return isinstance(node, ast.Call) and dotted(node.func) == "vars" and bool(library_expr(node, libs))


def node_findings(node: ast.AST, libs: frozenset[str] = frozenset()) -> list[str]:
    """What one syntax node does to the grading machinery, as short phrases ('' when nothing)."""
    found = library_findings(node, libs)
    name = dotted(node)
    if _binds_checks(node):
        found.append("rebinds the name `checks`")
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            where = dotted(target) or dotted(getattr(target, "value", ast.Pass()))
            if where.startswith(("checks.", "tlcourse.")) or where in {"sys.modules", "sys.path"}:
                found.append(f"assigns to `{where}`")
    if isinstance(node, ast.Call):
        func = dotted(node.func)
        if func in HOOK_CALLS:
            found.append(f"calls `{func}` ({HOOK_CALLS[func]})")
        owner = dotted(node.args[0]).split(".")[0] if node.args else ""
        if func in {"setattr", "delattr"} and owner in {"checks", "tlcourse"}:
            found.append(f"calls `{func}` on `{dotted(node.args[0])}`")
        if func.startswith(("sys.path.", "sys.modules.")):
            found.append(f"calls `{func}`")
    if isinstance(node, ast.Attribute) and name.split(".")[-1] in RECORD_NAMES and "checks" in name:
        found.append(f"uses `{name}` (the check records)")
    if isinstance(node, ast.Import):
        found += [f"imports {a.name}" for a in node.names if a.name.startswith("tlcourse.checks.")]
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tlcourse.checks"):
        found += [f"imports `{a.name}` from {node.module}" for a in node.names if not a.name.startswith("check_")]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "TLCOURSE_CHECK_LOG" in node.value:
        found.append("names TLCOURSE_CHECK_LOG (the check log)")
    if isinstance(node, (ast.Name, ast.Attribute)) and name.split(".")[-1] in HOOK_NAMES:
        found.append(f"uses `{name}` ({HOOK_NAMES[name.split('.')[-1]]})")
    return found


def source_findings(nb: nbformat.NotebookNode) -> list[str]:
    """Every place in the submission's code cells that reaches for the grading machinery, as 'cell N: what'."""
    trees = {}
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        try:
            trees[index] = ast.parse(cell.source)
        except SyntaxError:
            continue  # a cell that does not parse cannot tamper; it shows its own error
    libs, findings = libraries(list(trees.values())), []
    for index, tree in trees.items():
        phrases = dict.fromkeys(p for node in ast.walk(tree) for p in node_findings(node, libs))
        findings += [f"cell {index}: {phrase}" for phrase in phrases]
    return findings


def runtime_findings(probe: dict | None, verdicts: dict[str, Outcome], decoy: Path) -> list[str]:
    """What the kernel shows after the run: the probe's findings and outcomes recorded outside the grader's checks."""
    findings = list(probe.get("findings", [])) if probe else []
    recorded = [tuple(pair) for pair in probe.get("outcomes", [])] if probe else []
    if decoy.exists():
        for line in decoy.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                recorded.append((str(entry.get("check")), str(entry.get("status"))))
            except (json.JSONDecodeError, AttributeError):
                recorded.append(("?", "passed"))  # a line that is not even an outcome: written by hand
    forged = sorted({check for check, status in recorded if status == "passed" and not _passed(verdicts, check)})
    if forged:
        findings.append(f"outcomes recorded outside a check: {', '.join(forged)} marked passed")
    return findings


def _passed(verdicts: dict[str, Outcome], check: str) -> bool:
    return check in verdicts and verdicts[check].passed


def package_digest() -> str:
    """One digest of every installed tlcourse source file: a submission that edits the package changes it."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
