"""What `tlcourse train` was asked to do (`TrainConfig`), checked before any work starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import models
from ..errors import TrainInputError

MODEL_FILE = "model.pt"


@dataclass
class TrainConfig:
    """Everything `tlcourse train` was asked to do (the command's options, as given)."""

    data: Path | None
    out: Path
    csv: Path | None = None
    images: Path | None = None
    backbone: str = "efficientnet_lite0"
    fine_tune: str = "auto"  # none | top | auto
    val_fraction: float = 0.2
    seed: int = 0
    epochs: int = 10
    folds: int = 5  # cross-validation folds on the training photos for --fine-tune auto
    groups: str | None = None  # a CSV column or a file-name pattern: one subject's photos stay together
    robustness: bool = True  # measure the kept model under shifts and with BatchNorm re-estimated (AdaBN)
    overwrite: bool = False
    progress: bool = True
    device: str | None = None  # the --device option; `run.train_recipe` turns it into a torch.device, once


def check_options(cfg: TrainConfig) -> None:
    """Refuse bad options before any work: missing paths, unknown modes, an --out that holds another model."""
    _check_modes(cfg)
    _check_sources(cfg)
    if cfg.fine_tune == "top" and cfg.backbone not in models.LITE_BACKBONES:
        raise TrainInputError(
            f"--fine-tune top works with {', '.join(models.LITE_BACKBONES)}; use auto or none with {cfg.backbone}."
        )
    if cfg.data is not None and Path(cfg.out).resolve().is_relative_to(Path(cfg.data).resolve()):
        raise TrainInputError(
            f"--out {cfg.out} is inside the photo folder {cfg.data}: its figures would be read as "
            "photos next time. Fix: choose an --out folder outside it."
        )
    check_out_dir(Path(cfg.out), cfg.overwrite)


def _check_modes(cfg: TrainConfig) -> None:
    """--fine-tune is none, top or auto; --folds is at least 2."""
    if cfg.fine_tune not in ("none", "top", "auto"):
        raise TrainInputError(f"--fine-tune must be none, top or auto, not {cfg.fine_tune!r}.")
    if cfg.folds < 2:
        raise TrainInputError(f"--folds must be at least 2 (cross-validation needs two folds), not {cfg.folds}.")


def _check_sources(cfg: TrainConfig) -> None:
    """DATA or --csv (not both), --images only with --csv, and every path given exists."""
    if (cfg.csv is None) == (cfg.data is None):
        raise TrainInputError(
            "Give either DATA (a folder of class folders) or --csv labels.csv --images DIR, not both."
            if cfg.csv
            else "Give DATA (a folder of class folders) or --csv labels.csv."
        )
    if cfg.images is not None and cfg.csv is None:
        raise TrainInputError("--images goes with --csv (the folder of the photos the CSV names).")
    for label, path in (("DATA", cfg.data), ("--csv", cfg.csv), ("--images", cfg.images)):
        if path is not None and not Path(path).exists():
            raise TrainInputError(
                f"{label} {path} does not exist. Fix: check the path (it is relative to {Path.cwd()})."
            )


def check_out_dir(out: Path, overwrite: bool) -> None:
    """--out must be a folder (or absent), and a model already there is replaced only with --overwrite."""
    if out.exists() and not out.is_dir():
        raise TrainInputError(f"--out {out} is a file, not a folder. Fix: choose a folder name.")
    existing = [p.name for p in (out / MODEL_FILE, out / "metrics.json") if p.exists()]
    if existing and not overwrite:
        raise TrainInputError(
            f"--out {out} already holds a model ({', '.join(existing)}). Fix: pass --overwrite "
            "to replace it, or choose another --out folder."
        )
