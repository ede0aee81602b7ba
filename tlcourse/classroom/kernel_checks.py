"""Code the grader sends into a submission's kernel as text: it never imports this module there.

`tlcourse grade` cannot trust what the student's code may have changed in the kernel (the `checks` module, its
functions, the outcome records). So it sends the source of this file, with the source of the check modules it read
itself before any student code ran, and runs it in a fresh namespace: `pristine_verdict` builds fresh copies of the
checks and runs one of them on the learner's objects; `integrity_probe` compares the kernel's `tlcourse.checks`
with the grader's fingerprints. Both display their answer as a JSON output with a one-time nonce, which the grader
reads from the kernel's messages for that very request. Everything here is self-contained: imports inside functions.

The checks compare with library functions (`torch.equal`, `numpy.allclose`, `isinstance`, ...) that live in the
submission's process, where `torch.equal = lambda a, b: True` is one line. So the grader does both of:

- (a) *the originals*: `library_snapshot` runs as the kernel's first cell, before any submission code: it imports the
  libraries the checks use and keeps every function, class and module of `builtins`, `math`, `operator`,
  `functools`, `numpy`, `torch` and `tlcourse` (not `tlcourse.checks`, which the probe covers), and the own
  attributes of the classes the checks' objects are made of (`CLASS_HOMES`: `torch.Tensor`, `torch.nn`, numpy,
  the course). The fresh check copies then run with the snapshot's builtins and an `import` that hands them
  modules rebuilt from the snapshot (`shadow`): `np.allclose` in a check is the original even if the kernel's
  `numpy` now says otherwise. This alone keeps a verdict honest when a patch is undone before anyone could see it.
- (b) *naming it*: a verdict taken while the snapshot and the kernel differ (`library_changes`: an attribute
  replaced or deleted, on a class one added that hides an inherited one, a Python function given other code or
  defaults, a module swapped in `sys.modules`) is no verdict: it shows status "error", naming the difference, so the
  check gives no points; the probe names every difference in the row. (a) alone would not do: the originals that
  library code reaches through its own globals (numpy's `allclose` calls `isclose`) and the methods of library
  classes (`nn.Module.parameters`) cannot be swapped for a copy, and an instructor should know a student tried. (b)
  alone would not do either: a patch undone inside the learner's function (after the check called it, before the
  compare) leaves no difference to see.

Out of reach: changes to data (numbers, flags, on modules and on classes: only functions, classes, modules and
descriptors are compared), patches below Python (`ctypes`, C extensions), classes and libraries the snapshot does not
keep, and a submission that finds the snapshot itself (it is an object in the same process). The grader's own entry
into the kernel uses `exec` and `__import__` as the kernel has them: a replacement that passes the grader's code on
is named like any other (`builtins.exec replaced`); one that rewrites that code can forge the answer, and only the
scan (`assigns to builtins.exec`) may see it.
"""

from __future__ import annotations

VERDICT_MIME = "application/vnd.tlcourse.verdict+json"
PROBE_MIME = "application/vnd.tlcourse.probe+json"
SNAPSHOT_ROOTS = ("builtins", "math", "operator", "functools", "numpy", "torch", "tlcourse")
SNAPSHOT_IMPORTS = (
    "math",
    "operator",
    "functools",
    "numpy",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "tlcourse.checks",
)
CLASS_HOMES = ("torch", "torch.nn", "torch.nn.parameter", "numpy")  # and below: whose classes the checks use
CLASS_PREFIXES = ("torch.nn.modules.", "tlcourse.")
MAX_NAMED = 8  # differences named one by one in a verdict or finding; the rest are counted


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


def pristine_verdict(
    sources: dict, lesson: str, name: str, nonce: str, snapshot: str, args: tuple, kwargs: dict
) -> None:
    """Run check `name` of `lesson` from fresh copies of the check code, on the learner's objects; show the verdict.

    The copies get the libraries as the snapshot `snapshot` saw them; a verdict taken while the kernel's libraries
    differ from it is shown as an error naming the difference (see the module's docstring for why both).
    """
    import sys
    import types

    from IPython.display import display

    holder = sys.modules.get(snapshot)
    changed = library_changes(holder)
    package, key = "tlcourse.checks", "tlcourse.checks.feedback"
    feedback = types.ModuleType(key)
    module = types.ModuleType(f"{package}.lesson{lesson}")
    feedback.__package__ = module.__package__ = package
    if holder is not None:
        feedback.__dict__["__builtins__"] = module.__dict__["__builtins__"] = holder.builtins
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
        changed += [c for c in library_changes(holder) if c not in changed]
        if changed:
            message = f"not graded: the libraries the check compares with were changed ({named(changed)})"
            verdict.update(status="error", message=message)
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


def integrity_probe(expected: dict, lesson: str, nonce: str, snapshot: str) -> None:
    """Compare the kernel's `tlcourse.checks` with the grader's fingerprints and its libraries with the snapshot."""
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
    changed = library_changes(sys.modules.get(snapshot))
    findings += [f"library changed: {named(changed)}"] if changed else []
    display({PROBE_MIME: {"nonce": nonce, "findings": findings, "outcomes": outcomes}, "text/plain": ""}, raw=True)


def library_snapshot(key: str) -> None:
    """Before any submission code: import the checks' libraries and keep their functions, classes and modules."""
    import builtins
    import importlib
    import sys
    import warnings

    for name in SNAPSHOT_IMPORTS:
        importlib.import_module(name)
    with warnings.catch_warnings():  # reading a deprecated attribute warns (torch.distributed.reduce_op)
        warnings.simplefilter("ignore")
        holder = _take_snapshot(key)
    holder.builtins = dict(vars(builtins))
    holder.builtins["__import__"] = _snapshot_import(holder, holder.builtins["__import__"])
    sys.modules[key] = holder


def _take_snapshot(key: str):
    """The modules of the snapshot's libraries with their attributes, and the classes the checks use with theirs."""
    import sys
    import types

    modules: dict[str, tuple] = {}
    classes: dict[int, tuple] = {}
    codes: dict[int, tuple] = {}
    for name in sorted(sys.modules, key=lambda n: (n.count("."), n)):  # 'torch.nn.Module' before its home module
        module = sys.modules[name]
        if name.split(".")[0] not in SNAPSHOT_ROOTS or name.startswith("tlcourse.checks"):
            continue
        if not isinstance(module, types.ModuleType):
            continue
        attrs = dict(vars(module))
        modules[name] = (module, attrs)
        for attr, value in attrs.items():
            _keep_code(codes, f"{name}.{attr}", value)
        for attr, value in attrs.items():  # the classes the checks' objects are made of; not torch's internals
            home = value.__module__ if isinstance(value, type) else None
            if isinstance(home, str) and (home in CLASS_HOMES or home.startswith(CLASS_PREFIXES)):
                if id(value) not in classes:
                    classes[id(value)] = (f"{name}.{attr}", value, dict(vars(value)))
                    for method, member in vars(value).items():
                        _keep_code(codes, f"{name}.{attr}.{method}", member)
    holder = types.ModuleType(key)
    holder.modules, holder.classes = modules, list(classes.values())  # type: ignore[attr-defined]
    holder.codes = list(codes.values())  # type: ignore[attr-defined]
    holder.shadows = {}  # type: ignore[attr-defined]
    return holder


def _keep_code(codes: dict, label: str, value) -> None:
    """Keep the code and defaults of a Python function (or the one a method, property or staticmethod holds)."""
    import types

    held = [value]
    if isinstance(value, (staticmethod, classmethod)):
        held.append(value.__func__)
    elif isinstance(value, property):
        held += [value.fget, value.fset]
    for fn in held:
        if isinstance(fn, types.FunctionType) and id(fn) not in codes:
            codes[id(fn)] = (label, fn, fn.__code__, fn.__defaults__)


def _same(now, then, home: str) -> bool:
    """Whether an attribute is still what the snapshot saw.

    Two changes are the libraries' own: a bound method is made anew on each access, and a library may wrap its own
    function once used (`torch._dynamo` wraps `torch.manual_seed`): a wrapper of the original whose code lies in the
    library's own folder (`home`).
    """
    import types

    if now is then:
        return True
    if type(now) is types.MethodType and type(then) is types.MethodType:
        return now.__func__ is then.__func__ and now.__self__ is then.__self__
    code = getattr(now, "__code__", None)
    if not isinstance(code, types.CodeType) or getattr(now, "__wrapped__", None) is not then:
        return False
    return bool(home) and code.co_filename.startswith(home)


def _behaves(value) -> bool:
    """Whether an attribute is behaviour (a function, class, module or descriptor) rather than data."""
    import types

    return callable(value) or isinstance(value, types.ModuleType) or hasattr(type(value), "__get__")


def _home(holder, name: str) -> str:
    """The folder of the library `name` belongs to ('' for one without files, such as builtins)."""
    import os

    module = holder.modules.get(name.split(".")[0], (None, {}))[1]
    path = module.get("__file__")
    return os.path.dirname(path) + os.sep if isinstance(path, str) else ""


def library_changes(holder) -> list[str]:
    """What differs between the kernel's libraries and the snapshot: 'torch.equal replaced', ...; [] if nothing."""
    import warnings

    if holder is None:
        return ["the grader's library snapshot was removed"]
    with warnings.catch_warnings():  # reading a deprecated attribute warns (torch.distributed.reduce_op)
        warnings.simplefilter("ignore")
        return _changes(holder)


def _changes(holder) -> list[str]:
    """`library_changes` of a snapshot that is there."""
    import sys
    import types

    found = []
    for name, (module, attrs) in holder.modules.items():
        if name in SNAPSHOT_IMPORTS + ("builtins",) and sys.modules.get(name) is not module:
            found.append(f"sys.modules[{name!r}] replaced")
        now, home = vars(module), _home(holder, name)
        for attr, then in attrs.items():
            if not (callable(then) or isinstance(then, types.ModuleType)):
                continue  # data (flags, caches) changes legitimately; out of reach, as the README says
            if attr not in now:
                found.append(f"{name}.{attr} deleted")
            elif not _same(now[attr], then, home):
                found.append(f"{name}.{attr} replaced")
        if "__getattr__" in now and "__getattr__" not in attrs:
            found.append(f"{name}.__getattr__ added")
    for label, cls, attrs in holder.classes:
        now, home = vars(cls), _home(holder, cls.__module__)
        for attr in sorted(set(now) | set(attrs)):
            if not (_behaves(now.get(attr)) or _behaves(attrs.get(attr))):
                continue  # class data (tqdm keeps its monitor thread on the class) is out of reach, as for modules
            if attr not in now:
                found.append(f"{label}.{attr} deleted")
            elif attr not in attrs:  # only a new attribute that hides an inherited one changes what code finds
                if attr != "__slotnames__" and any(attr in vars(base) for base in cls.__mro__[1:]):
                    found.append(f"{label}.{attr} added")
            elif not _same(now[attr], attrs[attr], home):
                found.append(f"{label}.{attr} replaced")
    for label, fn, code, defaults in holder.codes:  # the same function object, given other code or defaults
        if fn.__code__ is not code or fn.__defaults__ is not defaults:
            found.append(f"{label}: its code or defaults replaced")
    return found


def named(changes: list) -> str:
    """The first few changes, then how many more."""
    more = len(changes) - MAX_NAMED
    return ", ".join(changes[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")


def _snapshot_import(holder, original):
    """An `__import__` for the fresh check copies: the snapshot's modules (rebuilt by `shadow`), not the kernel's."""

    def snapshot_import(name, globals=None, locals=None, fromlist=(), level=0):
        module = original(name, globals, locals, fromlist, level)
        if level or name.split(".")[0] not in holder.modules:
            return module
        if fromlist:
            return shadow(holder, name) if name in holder.modules else module
        top = name.split(".")[0]
        return shadow(holder, top) if top in holder.modules else module

    return snapshot_import


def shadow(holder, name: str):
    """A module rebuilt from the snapshot of `name`: its original attributes, its submodules rebuilt in turn."""
    import types

    if name in holder.shadows:
        return holder.shadows[name]
    module, attrs = holder.modules[name]
    copy = types.ModuleType(name)
    holder.shadows[name] = copy
    submodules = {k: v.__name__ for k, v in attrs.items() if isinstance(v, types.ModuleType)}
    submodules = {k: full for k, full in submodules.items() if full in holder.modules}
    copy.__dict__.update({k: v for k, v in attrs.items() if k not in submodules and k != "__getattr__"})

    def __getattr__(attr):  # a submodule is rebuilt when first used; anything else comes from the kernel's module
        if attr in submodules:
            value = shadow(holder, submodules[attr])
            setattr(copy, attr, value)
            return value
        return getattr(module, attr)

    copy.__dict__["__getattr__"] = __getattr__
    return copy
