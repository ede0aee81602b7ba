"""Lesson 05's GPU path (CIFAR-10, a deeper network) runs in CI, which has neither a GPU nor CIFAR-10.

The notebook's own code cells are executed with its "cifar10" settings, on the CPU, with random 32x32 images standing
in for the download: this proves the shapes, the seven-layer copy and the bookkeeping, not any accuracy.
"""

from pathlib import Path

import nbformat
import numpy as np
import torch

from tlcourse import subsets

LESSON = Path(__file__).resolve().parent.parent / "notebooks" / "05_what_transfers.ipynb"


def fake_cifar10(name: str, split: str, classes):
    """Random bytes in CIFAR-10's shape and label layout: 20 images per class (train) or 10 (test)."""
    assert name == "cifar10" and split in {"train", "test"}
    per_class = 20 if split == "train" else 10
    rng = np.random.default_rng(len(split))
    images = torch.as_tensor(rng.integers(0, 256, (10 * per_class, 3, 32, 32), dtype=np.uint8))
    return subsets.select_classes(images, torch.arange(10).repeat(per_class), classes)


def test_lesson05_runs_its_cifar10_settings(monkeypatch):
    notebook = nbformat.read(LESSON, as_version=4).cells
    cells = [c.source for c in notebook if c.cell_type == "code" and "google.colab" not in c.source]  # not Colab's
    ns: dict = {}
    exec(cells[0], ns)  # the setup cell: make_net reads the settings S at call time
    assert ns["DATASET"] == "digits" or torch.cuda.is_available()
    ns["DATASET"] = "cifar10"
    ns["S"] = dict(ns["SETTINGS"]["cifar10"], splits=[0], epochs=1)  # one split, one epoch: shapes, not accuracy
    ns["LAYERS"] = len(ns["make_net"]()) - 1
    ns["device"] = "cpu"
    monkeypatch.setattr(subsets, "class_subset", fake_cifar10)
    for source in cells[1:]:
        exec(source, ns)
    assert ns["LAYERS"] == 7
    assert ns["make_net"]()[0][0].in_channels == 3
    for name in ["BnB", "BnB+", "AnB", "AnB+"]:
        accuracy = ns["acc"][name]
        assert accuracy.shape == (1, 7) and ((accuracy > 0) & (accuracy <= 1)).all()
