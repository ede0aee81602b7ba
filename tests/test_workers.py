"""No DataLoader worker processes in a notebook by default: on macOS and Windows workers are spawned (each one
imports torch again, and a class defined in a notebook cannot reach them), so a helper or a lesson on a CPU keeps
num_workers=0; only a CUDA machine (Linux, Colab) is given workers, and only by the lesson that says so."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ON_GPU_ONLY = re.compile(r"num_workers=(0\b|\d+ if on_gpu else 0\b)")


def _worker_keywords(path: Path) -> list[str]:
    """Each `num_workers=` a module passes, as source text, unless it is 0 or copies an existing loader's setting."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        for kw in getattr(node, "keywords", []) if isinstance(node, ast.Call) else []:
            if kw.arg == "num_workers" and not (
                (isinstance(kw.value, ast.Constant) and kw.value.value == 0) or isinstance(kw.value, ast.Attribute)
            ):
                found.append(f"{path.relative_to(REPO)}:{kw.lineno}: {ast.unparse(kw.value)}")
    return found


def test_no_helper_starts_dataloader_workers_by_default():
    assert [hit for p in sorted((REPO / "tlcourse").rglob("*.py")) for hit in _worker_keywords(p)] == []


def test_lessons_give_workers_only_to_a_gpu():
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for match in re.finditer(r"num_workers=[^,)\n]*", code):
            assert ON_GPU_ONLY.fullmatch(match.group(0).strip()), f"{path.name}: {match.group(0)}"
