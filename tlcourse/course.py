"""The setup most image lessons share: the pretrained backbone and the ants/bees photos, in one line."""

from __future__ import annotations

from typing import NamedTuple

from torch import nn
from torch.utils.data import Dataset

from . import data, models


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
