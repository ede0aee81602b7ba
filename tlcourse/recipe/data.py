"""The photos `tlcourse train` learns from: split into train and val, and a report of what is in them."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import images
from ..errors import TrainInputError
from .groups import group_split, photo_groups
from .options import TrainConfig


@dataclass
class ClassCount:
    """How many photos of one class each split holds."""

    train: int
    val: int


@dataclass
class DataReport:
    """The data as the recipe sees it: classes, photos per class and split, how the split was made, notes."""

    classes: list[str]
    counts: dict[str, ClassCount]
    splits: str
    notes: list[str]
    imbalance: float  # the largest class's training photos over the smallest's
    groups: int | None = None  # distinct groups among the training photos (--groups), None without

    def to_json(self) -> dict:
        """The report as metrics.json keeps it."""
        return asdict(self)


@dataclass
class Photos:
    """The training and validation photos (one class list), the report on them, the training photos' groups."""

    train: images.ImageFiles
    val: images.ImageFiles
    report: DataReport
    train_groups: list[str] | None = None  # --groups: each training photo's group, in order


def load_data(cfg: TrainConfig) -> Photos:
    """Train and val datasets with one class list, and a report: classes, counts, imbalance, files left out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            train, val, how = _load_splits(cfg)
        except (images.SplitMismatchError, images.DataFolderError) as err:
            raise TrainInputError(str(err)) from None
        except ValueError as err:  # one class only, a class too small to split, a CSV without file/label
            raise TrainInputError(str(err)) from None
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    groups = _groups(train, cfg) if cfg.groups else None
    val_counts = val.class_counts()
    counts = {c: ClassCount(train=n, val=val_counts[c]) for c, n in train.class_counts().items()}
    train_n = [n.train for n in counts.values()]
    report = DataReport(
        classes=train.classes,
        counts=counts,
        splits=how,
        notes=notes,
        imbalance=max(train_n) / max(1, min(train_n)),
        groups=None if groups is None else len(set(groups)),
    )
    return Photos(train=train, val=val, report=report, train_groups=groups)


def _groups(photos: images.ImageFiles, cfg: TrainConfig) -> list[str]:
    """Each photo's --groups group."""
    assert cfg.groups is not None
    return photo_groups(photos, cfg.groups, csv_path=cfg.csv, image_dir=cfg.images)


def _load_splits(cfg: TrainConfig) -> tuple[images.ImageFiles, images.ImageFiles, str]:
    """(train, val, how they were made) from an ImageFolder tree, one folder of class folders, or a CSV."""
    if cfg.csv is not None:
        full = images.image_csv(cfg.csv, cfg.images)
        where = cfg.images or Path(cfg.csv).parent
        how = f"{cfg.csv} + {where}, divided {1 - cfg.val_fraction:.0%}/{cfg.val_fraction:.0%}"
    elif cfg.data is None:
        raise TrainInputError("Give DATA (a folder of photos) or --csv with --images. Fix: see tlcourse train --help.")
    elif (cfg.data / "train").is_dir() and (cfg.data / "val").is_dir():
        parts = images.image_splits(cfg.data)
        return parts["train"], parts["val"], f"{cfg.data}/train and {cfg.data}/val as given"
    elif (cfg.data / "train").is_dir():
        full = images.image_folder(cfg.data / "train")
        how = f"{cfg.data}/train (no val/ folder), divided {1 - cfg.val_fraction:.0%}/{cfg.val_fraction:.0%}"
    else:
        full = images.image_folder(cfg.data)
        how = f"{cfg.data}, divided {1 - cfg.val_fraction:.0%}/{cfg.val_fraction:.0%}"
    if cfg.groups:
        train, val = group_split(full, _groups(full, cfg), cfg.val_fraction, cfg.seed)
        return train, val, f"{how} (stratified, whole groups of --groups {cfg.groups!r}, seed {cfg.seed})"
    train, val = images.split(full, cfg.val_fraction, stratify=True, seed=cfg.seed)
    return train, val, f"{how} (stratified, seed {cfg.seed})"


def print_data_report(report: DataReport) -> None:
    """The data as the recipe sees it, before any training."""
    print(f"data: {report.splits}")
    for c, n in report.counts.items():
        print(f"  {c:24} train {n.train:5}   val {n.val:5}")
    if report.imbalance >= 3:
        print(
            f"  imbalance: the largest class has {report.imbalance:.1f}x the photos of the smallest; "
            "accuracy is reported per class too"
        )
    if report.groups is not None:
        print(f"  groups: {report.groups} among the training photos; cross-validation keeps each in one fold")
    for note in report.notes:
        print(f"  note: {note}")
