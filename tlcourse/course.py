"""The setup lessons share: the pretrained backbone and the ants/bees photos in one line, and lesson 09's demo.

`ants_bees()` loads what lessons 02-05 start from. `demo_photos()` lays the same photos out as a learner's own
photos often are (one flat folder and a labels.csv), so lesson 09 runs end to end before you point it at yours.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

from torch import nn
from torch.utils.data import Dataset

from . import data, models
from .paths import cache_dir


class AntsBees(NamedTuple):
    """`backbone, transform, info, train_set, val_set = course.ants_bees()`."""

    backbone: nn.Module
    transform: object
    info: models.BackboneInfo
    train_set: Dataset
    val_set: Dataset


def ants_bees(backbone: str = "efficientnet_lite0") -> AntsBees:
    """The pretrained backbone with its eval transform, and the ants/bees train and val photos seen through it."""
    model, transform, info = models.load_backbone(backbone)
    return AntsBees(
        model,
        transform,
        info,
        data.load_dataset("hymenoptera", "train", transform=transform),
        data.load_dataset("hymenoptera", "val", transform=transform),
    )


class DemoPhotos(NamedTuple):
    """`labels_csv, photos = course.demo_photos()`: a file,label CSV and the flat folder of photos it names."""

    labels_csv: Path
    photos: Path


def demo_photos() -> DemoPhotos:
    """The ants/bees photos as one flat folder plus labels.csv under data/cache/own_demo, built when absent."""
    root = cache_dir("own_demo")
    demo = DemoPhotos(root / "labels.csv", root / "photos")
    if not demo.labels_csv.is_file():
        staging = Path(tempfile.mkdtemp(dir=root))  # built aside, then moved in whole: never seen half-copied
        try:
            _copy_flat(staging)
            _move_in(staging, demo)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return demo


def _copy_flat(staging: Path) -> None:
    """Copy every ants/bees photo into staging/photos as train_NAME or val_NAME, and write staging/labels.csv."""
    (staging / "photos").mkdir()
    rows = ["file,label"]
    for path in sorted(data.get_spec("hymenoptera").path.glob("*/*/*")):
        name = f"{path.parts[-3]}_{path.name}"  # train_... / val_...: the old split is forgotten on purpose
        shutil.copyfile(path, staging / "photos" / name)
        rows.append(f'"{name}",{path.parts[-2]}')
    (staging / "labels.csv").write_text("\n".join(rows) + "\n")


def _move_in(staging: Path, demo: DemoPhotos) -> None:
    """Move the staged folder and then the CSV into place (the CSV last: it says the photos are complete)."""
    if not demo.photos.exists():
        try:
            (staging / "photos").rename(demo.photos)
        except OSError:  # another run of this lesson moved the same photos in first
            pass
    (staging / "labels.csv").replace(demo.labels_csv)
