"""The frozen backbone run once per photo: pooled features for the probe and, on a Lite backbone, the stage6 maps
the top stage is fine-tuned on (both cached per photo by `feature_store`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from .. import efficientnet_lite, feature_store, images, models

CUT = "stage6"  # fine-tuning "the top stage" = the layers above stage6 (stage7 + head), trained on cached maps


@dataclass
class SplitFeatures:
    """One split's cached inputs: labels, pooled features, and the stage6 maps when the backbone is a Lite one."""

    labels: torch.Tensor
    pooled: torch.Tensor
    maps: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: torch.Tensor) -> SplitFeatures:
        """The photos at `idx` (a fold, the fit part of a split)."""
        return SplitFeatures(self.labels[idx], self.pooled[idx], None if self.maps is None else self.maps[idx])


@dataclass
class Features:
    """The training and validation photos' cached inputs, kept apart (the choice is given `train` alone)."""

    train: SplitFeatures
    val: SplitFeatures

    @property
    def has_maps(self) -> bool:
        """Whether the top stage can be fine-tuned on cached maps (a Lite backbone)."""
        return self.train.maps is not None


def extract(
    backbone: models.LoadedBackbone,
    train: images.ImageFiles,
    val: images.ImageFiles,
    *,
    device: torch.device,
    progress: bool,
) -> Features:
    """Cached inputs for the heads: stage6 maps + pooled features (Lite), or pooled features (other backbones)."""
    model, transform, info = backbone
    train, val = train.with_transform(transform), val.with_transform(transform)
    y_train, y_val = torch.as_tensor(train.targets), torch.as_tensor(val.targets)
    if info.name not in models.LITE_BACKBONES:
        f_train = feature_store.image_features(model, train, info=info, device=device, progress=progress)[0]
        f_val = feature_store.image_features(model, val, info=info, device=device, progress=progress)[0]
        return Features(SplitFeatures(y_train, f_train), SplitFeatures(y_val, f_val))
    m_train = feature_store.image_features(model, train, CUT, info, pool=False, device=device, progress=progress)[0]
    m_val = feature_store.image_features(model, val, CUT, info, pool=False, device=device, progress=progress)[0]
    top = layers_above_cut(backbone).eval()
    return Features(
        SplitFeatures(y_train, run_top(top, m_train), m_train), SplitFeatures(y_val, run_top(top, m_val), m_val)
    )


def layers_above_cut(backbone: models.LoadedBackbone) -> nn.Sequential:
    """A copy of the layers above stage6 of a Lite backbone (stage7, head, pooling), the backbone left untouched."""
    return efficientnet_lite.layers_above(cast(efficientnet_lite.EfficientNetLite, backbone.model), CUT)


@torch.no_grad()
def run_top(top: nn.Module, maps: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Pooled features from cached maps: the layers above the cut, run once (same as the full forward pass)."""
    return torch.cat([top(maps[i : i + batch_size]) for i in range(0, len(maps), batch_size)])
