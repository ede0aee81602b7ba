"""Where the course keeps its data, caches and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "TLCOURSE_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent


INSTALLED_DATA = "~/tlcourse-data"  # the data folder of a pip install (no repository around the package)


def in_checkout() -> bool:
    """Whether the package runs from a source checkout (an editable install): its pyproject.toml is beside it."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()


def data_root() -> Path:
    """The data folder: $TLCOURSE_DATA if set, else `<repo>/data` in a checkout (an instructor can copy it whole),
    else ~/tlcourse-data (a pip install: never inside site-packages)."""
    default = REPO_ROOT / "data" if in_checkout() else Path(INSTALLED_DATA)
    return Path(os.environ.get(DATA_ENV_VAR) or default).expanduser()


def cache_dir(kind: str) -> Path:
    """A folder under `<data>/cache/` for derived files (feature caches, checkpoints) that can be rebuilt."""
    path = data_root() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
