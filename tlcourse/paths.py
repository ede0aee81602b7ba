"""Where the course keeps its data, caches and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "TLCOURSE_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The data folder: $TLCOURSE_DATA if set, else `<repo>/data` (an instructor can copy it whole)."""
    return Path(os.environ.get(DATA_ENV_VAR) or REPO_ROOT / "data").expanduser()


def cache_dir(kind: str) -> Path:
    """A folder under `<data>/cache/` for derived files (feature caches, checkpoints) that can be rebuilt."""
    path = data_root() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
