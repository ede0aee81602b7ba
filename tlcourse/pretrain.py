"""Lesson 01's own pretrained network: a small CNN trained on digits 0-4, and its checkpoint.

Later lessons reuse the checkpoint through `digits_checkpoint()`, which trains it again (a few seconds) when
it is absent or unreadable, so every notebook also runs on its own.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import data, runtime, storage, subsets, train
from .errors import CheckpointError
from .paths import cache_dir

SOURCE_CLASSES = range(5)  # the source task: digits 0-4; lessons transfer to digits 5-9


class SmallCNN(nn.Module):
    """Two conv blocks and a hidden Linear layer (the transferable 'features'), then a linear 'head'."""

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
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def checkpoint_path() -> Path:
    """Where lesson 01 saves the digits 0-4 network (a rebuildable cache file)."""
    return cache_dir("checkpoints") / "digits_0-4_cnn.pt"


def pretrain_on_digits(
    epochs: int = 30, lr: float = 1e-3, batch_size: int = 64, seed: int = 0
) -> tuple[SmallCNN, train.History]:
    """Lesson 01's pretraining recipe: SmallCNN on digits 0-4 with Adam, on the CPU; returns (model, History)."""
    source_train = subsets.as_tensor_dataset(data.digits("train", classes=SOURCE_CLASSES))
    source_val = subsets.as_tensor_dataset(data.digits("val", classes=SOURCE_CLASSES))
    runtime.seed_everything(seed)
    model = SmallCNN()
    history = train.fit(
        model,
        DataLoader(source_train, batch_size=batch_size, shuffle=True),
        DataLoader(source_val, batch_size=256),
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        epochs=epochs,
        device="cpu",
        progress=False,
    )
    return model, history


def digits_checkpoint(rebuild: bool = False) -> Path:
    """The path of lesson 01's checkpoint, pretraining it again first when it is missing or unreadable."""
    path = checkpoint_path()
    if path.is_file() and not rebuild:
        try:
            storage.load_checkpoint(path, SmallCNN())
            return path
        except (CheckpointError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            print(f"{path} could not be used ({err}); pretraining it again.")
    model, history = pretrain_on_digits()
    return storage.save_checkpoint(path, model, history=history)
