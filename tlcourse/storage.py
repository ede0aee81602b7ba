"""Files the course writes: atomic saves, checkpoints that know their architecture, fingerprints, and caches.

Everything is written to a temporary file and renamed, so a crash never leaves half a file, and read back with
`weights_only=True`, so loading a file never runs code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

import torch
from torch import nn

from .errors import CheckpointError
from .paths import cache_dir

T = TypeVar("T")


def atomic_save(obj, path) -> Path:
    """torch.save through `atomic_write`: a crash never leaves half a checkpoint or cache entry under `path`."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write(path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write` on a hidden temporary file, then rename it to `path`: a crash never leaves half a file.

    The temporary name is unique, so two processes saving the same file (two notebooks writing one cache entry)
    never write into each other's half-written file; the last rename wins with a complete file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache or checkpoint is as readable as any saved file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def cached(kind: str, key: str, compute: Callable[[], T]) -> T:
    """The object saved under `<data>/cache/<kind>/<key>.pt`, computed and saved first if it is not there yet."""
    path = cache_dir(kind) / f"{key}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    value = compute()
    atomic_save(value, path)
    return value


def weights_fingerprint(model: nn.Module) -> str:
    """A hash of every parameter and buffer: different weights, different features."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def architecture(model: nn.Module) -> dict[str, list[int]]:
    """Parameter and buffer names with their shapes: what must match for a checkpoint to fit."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def save_checkpoint(
    path,
    model,
    optimizer=None,
    scheduler=None,
    epoch: int = 0,
    history=None,
    run_name: str | None = None,
    about: dict | None = None,
) -> Path:
    """Write model (and optimizer, scheduler, History) atomically, with the architecture it needs to be loaded into.

    `about` says what the network is (e.g. its kind, the dataset and classes it learned): plain values only, so it
    loads with weights_only=True.
    """
    path = Path(path)
    state = {
        "model": model.state_dict(),
        "architecture": architecture(model),
        "epoch": epoch,
        "run_name": run_name or path.stem,
        "optimizer": optimizer.state_dict() if optimizer else None,
        "scheduler": scheduler.state_dict() if scheduler else None,
        "history": history.records if history else [],
        "stop_reason": history.stop_reason if history else "",
        "best_epoch": history.best_epoch if history else None,
        "about": about or {},
    }
    return atomic_save(state, path)


def load_checkpoint(path, model: nn.Module, optimizer=None, scheduler=None) -> dict:
    """Load a checkpoint (weights_only=True: no code runs) into `model`; mismatched keys are named in the error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    check_architecture(state.get("architecture", {}), model, path)
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler"):
        scheduler.load_state_dict(state["scheduler"])
    return state


def check_architecture(saved: dict, model: nn.Module, path) -> None:
    """Raise CheckpointError naming missing, unexpected and reshaped keys if the checkpoint is another model's."""
    current = architecture(model)
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    reshaped = sorted(k for k in set(saved) & set(current) if list(saved[k]) != current[k])
    if missing or unexpected or reshaped:
        parts = [
            f"{label}: {keys[:5]}{' ...' if len(keys) > 5 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape differs", reshaped))
            if keys
        ]
        raise CheckpointError(
            f"Checkpoint {path} is for a different architecture ({'; '.join(parts)}). Build the "
            "same model as the one that was saved, or train again with a new checkpoint path."
        )


def reuse_or_rebuild(
    path: Path, problem: Callable[[Path], str | None], rebuild: Callable[[], Path], force=False
) -> Path:
    """`path` when `problem(path)` finds nothing wrong with the file there; else say why, and `rebuild()` it.

    The lessons' own pretrained networks (lesson 01's digits CNN, lesson 08's GPT) use it, so that a later lesson
    runs on its own: a missing, unreadable or foreign checkpoint is pretrained again, never used as it is.
    """
    if path.is_file() and not force:
        try:
            why = problem(path)
        except (CheckpointError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as err:
            why = f"could not be used ({err})"
        if why is None:
            return path
        print(f"{path} {why}; pretraining it again.")
    return rebuild()
