"""Pieces of a dataset: a few classes, k examples per class, tensors for small CNNs."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from . import data
from .data import DigitsImages


def as_tensor_dataset(dataset: DigitsImages) -> TensorDataset:
    """Digits as one TensorDataset (fast batching for small CNNs)."""
    return TensorDataset(dataset.images, dataset.labels)


def class_subset(name: str, split: str, classes) -> TensorDataset:
    """The images of `classes` in a small in-memory dataset ("digits", "cifar10"): tensors in [0, 1], labels 0..k-1.

    One tensor per split, so small CNNs train without decoding a file per image (CIFAR-10: 5,000 images per class
    in "train", 1,000 in "test"; download it first with `tlcourse download cifar10`).
    """
    source: Any = data.load_dataset(name, split)  # a dataset with .targets (digits, CIFAR-10)
    return select_classes(image_tensor(source), torch.as_tensor(source.targets), classes)


def image_tensor(dataset) -> torch.Tensor:
    """All images of an in-memory dataset as one N x C x H x W tensor (digits' floats, or torchvision's HWC bytes)."""
    if isinstance(dataset, DigitsImages):
        return dataset.images
    if not hasattr(dataset, "data"):
        raise ValueError(
            f"{type(dataset).__name__} keeps its images in files, not in memory: load it with a "
            "DataLoader instead (class_subset is for small datasets such as digits or CIFAR-10)."
        )
    return torch.as_tensor(np.asarray(dataset.data)).permute(0, 3, 1, 2)  # N x H x W x 3 bytes -> N x 3 x H x W


def select_classes(images: torch.Tensor, labels: torch.Tensor, classes) -> TensorDataset:
    """Keep the examples of `classes`, renumbered in sorted order ([7, 3]: 3 -> 0, 7 -> 1); bytes -> [0, 1]."""
    order = sorted({int(c) for c in classes})
    missing = sorted(set(order) - set(labels.unique().tolist()))
    if missing:
        raise ValueError(
            f"Classes {missing} have no examples; the labels present are {sorted(labels.unique().tolist())}."
        )
    keep = torch.isin(labels, torch.tensor(order))
    renumber = {c: i for i, c in enumerate(order)}
    kept = images[keep]
    if kept.dtype == torch.uint8:
        kept = kept.float() / 255
    return TensorDataset(kept, torch.tensor([renumber[int(y)] for y in labels[keep]]))


def sample_per_class(labels, k: int | None, seed: int = 0) -> np.ndarray:
    """Indices of `k` examples of every class, drawn without replacement (all indices when k is None).

    The draw depends only on `seed`, so every strategy in a comparison sees the same labelled images.
    """
    labels = np.asarray(labels)
    if k is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if k > len(pool):
            raise ValueError(f"Asked for {k} examples per class, but class {c} has only {len(pool)}.")
        chosen.append(rng.choice(pool, k, replace=False))
    return np.sort(np.concatenate(chosen))
