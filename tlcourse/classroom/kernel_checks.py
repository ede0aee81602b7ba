"""Code the grader sends into a submission's kernel as text: it never imports this module there.

`tlcourse grade` cannot trust what the student's code may have changed in the kernel (the `checks` module, its
functions, the outcome records). So it sends the source of this file, with the source of the check modules it read
itself before any student code ran, and runs it in a fresh namespace: `pristine_verdict` builds fresh copies of the
checks and runs one of them on the learner's objects; `integrity_probe` compares the kernel's `tlcourse.checks`
with the grader's fingerprints. Both display their answer as a JSON output with a one-time nonce, which the grader
reads from the kernel's messages for that very request. Everything here is self-contained: imports inside functions.
"""

from __future__ import annotations

VERDICT_MIME = "application/vnd.tlcourse.verdict+json"
PROBE_MIME = "application/vnd.tlcourse.probe+json"


def fingerprint(fn) -> str:
    """A digest of a function's compiled code (bytecode, names, constants, nested code); '' if it has none."""
    import hashlib
    import types

    def const(value) -> str:
        if isinstance(value, types.CodeType):
            return code(value)
        if isinstance(value, (tuple, frozenset)):  # a frozenset's order varies between processes: sort it
            items = [const(v) for v in value]
            return type(value).__name__ + repr(sorted(items) if isinstance(value, frozenset) else items)
        return repr(value)

    def code(c) -> str:
        parts = [c.co_code.hex(), repr(c.co_names), repr(c.co_varnames), *map(const, c.co_consts)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    target = getattr(fn, "__code__", None)
    return code(target) if isinstance(target, types.CodeType) else ""


def file_digest(module) -> str:
    """The SHA-256 of a module's source file ('' when it has none or it cannot be read)."""
    import hashlib

    try:
        with open(module.__file__, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (AttributeError, TypeError, OSError):
        return ""


def pristine_verdict(sources: dict, lesson: str, name: str, nonce: str, args: tuple, kwargs: dict) -> None:
    """Run check `name` of `lesson` from fresh copies of the check code, on the learner's objects; show the verdict."""
    import sys
    import types

    from IPython.display import display

    package, key = "tlcourse.checks", "tlcourse.checks.feedback"
    feedback = types.ModuleType(key)
    module = types.ModuleType(f"{package}.lesson{lesson}")
    feedback.__package__ = module.__package__ = package
    saved = sys.modules.get(key)
    sys.modules[key] = feedback  # the lesson's `from .feedback import ...` finds the fresh copy
    try:
        exec(compile(sources["feedback"], "<tlcourse grader: checks/feedback.py>", "exec"), feedback.__dict__)
        feedback.RECORD_TO_FILES = False  # type: ignore[attr-defined]  # a module made here, from source
        exec(compile(sources[lesson], f"<tlcourse grader: checks/lesson{lesson}.py>", "exec"), module.__dict__)
    finally:
        if saved is None:
            sys.modules.pop(key, None)
        else:
            sys.modules[key] = saved
    verdict = {"nonce": nonce, "check": name, "status": "error", "message": "the check did not finish"}
    try:
        getattr(module, f"check_{name}")(*args, **kwargs)
    finally:
        if feedback._OUTCOMES:
            last = feedback._OUTCOMES[-1]
            verdict.update(status=last.status, message=last.message)
        display({VERDICT_MIME: verdict, "text/plain": ""}, raw=True)


def _check_findings(expected: dict, package, lesson_module) -> list[str]:
    """Each check of the lesson that is not the installed one: replaced, wrapped, or its code changed."""
    findings = []
    for name, digest in expected["checks"].items():
        fn = getattr(package, f"check_{name}", None)
        original = getattr(lesson_module, f"check_{name}", None)
        if fn is None:
            findings.append(f"checks.check_{name} deleted")
        elif fn is not original or fingerprint(fn) != expected["wrapper"]:
            findings.append(f"checks.check_{name} replaced or wrapped")
        elif fingerprint(getattr(fn, "__wrapped__", None)) != digest:
            findings.append(f"the code of checks.check_{name} was changed")
    return findings


def integrity_probe(expected: dict, lesson: str, nonce: str) -> None:
    """Compare the kernel's `tlcourse.checks` with the grader's fingerprints, and show the findings."""
    import sys

    from IPython import get_ipython
    from IPython.display import display

    findings, outcomes = [], []
    package = sys.modules.get("tlcourse.checks")
    modules = {
        "tlcourse.checks": package,
        "tlcourse.checks.feedback": sys.modules.get("tlcourse.checks.feedback"),
        f"tlcourse.checks.lesson{lesson}": sys.modules.get(f"tlcourse.checks.lesson{lesson}"),
    }
    user_ns = get_ipython().user_ns
    if "checks" in user_ns and (package is None or user_ns["checks"] is not package):
        findings.append("`checks` redefined: it is no longer the tlcourse.checks module")
    if package is not None:
        for label, module in modules.items():
            if module is None or file_digest(module) != expected["files"].get(label):
                findings.append(f"{label} loaded from elsewhere or reloaded (not the installed file)")
        feedback = modules["tlcourse.checks.feedback"]
        for helper, digest in expected["feedback"].items():
            if fingerprint(getattr(feedback, helper, None)) != digest:
                findings.append(f"tlcourse.checks.feedback.{helper} replaced")
        findings += _check_findings(expected, package, modules[f"tlcourse.checks.lesson{lesson}"])
        for outcome in list(getattr(feedback, "_OUTCOMES", []))[:1000]:
            outcomes.append([str(getattr(outcome, "check", "?")), str(getattr(outcome, "status", "?"))])
    display({PROBE_MIME: {"nonce": nonce, "findings": findings, "outcomes": outcomes}, "text/plain": ""}, raw=True)
