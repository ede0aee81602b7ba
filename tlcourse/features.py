"""Run a frozen backbone once, keep its features on disk, and train cheap heads on them.

A frozen backbone is a fixed function: running it again every epoch (as the classic tutorial does) repeats
the same arithmetic. Here it runs once; the cache key covers everything that could change the answer.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .models import BackboneInfo
from .progress import tqdm
from .runtime import autocast, pick_device, prepare_model, to_device
from .storage import cached, weights_fingerprint
from .surgery import layer_output
from .train import EarlyStopping, fit


def features_key(model: nn.Module, dataset, layer: str, pool: bool, *more: str) -> str:
    """What makes features differ: backbone weights, layer, pooling, the dataset's transform (and `more`), hashed.

    `cache_key` (one file per dataset) and `feature_store.store_path` (one store per backbone setting) both use it.
    """
    parts = [type(model).__name__, weights_fingerprint(model), layer, f"pool={pool}"]
    parts += [repr(getattr(dataset, "transform", None)), *more]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def cache_key(model: nn.Module, dataset, layer: str, pool: bool = True) -> str:
    """Backbone weights + layer + pooling + transform + dataset contents, hashed into one file name."""
    if not hasattr(dataset, "fingerprint"):
        raise TypeError(f"{type(dataset).__name__} has no fingerprint(); pass cache=False to extract without a cache.")
    return features_key(model, dataset, layer, pool, dataset.fingerprint())


@torch.no_grad()
def compute_features(
    model, dataset, layer, info, batch_size, device, progress: bool, pool: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Push the dataset through the model once (no cache); the features of `layer` (pooled if asked), the labels."""
    prepare_model(model, device).eval()
    feats, labels = [], []
    loader = DataLoader(dataset, batch_size=batch_size, pin_memory=device.type == "cuda")
    label = f"features of {len(dataset)} images" + ("" if info and layer == info.feature_layer else f" at {layer}")
    for x, y in tqdm(loader, desc=label, leave=False, disable=not progress):
        with autocast(device):
            out = layer_output(model, to_device(x, device), layer, info)
        if pool:  # global average pooling: one vector per image whatever the layer
            out = (out.mean(dim=(2, 3)) if out.ndim == 4 else out).flatten(1)
        feats.append(out.float().cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels)


def extract_features(
    model: nn.Module,
    dataset,
    layer: str | None = None,
    info: BackboneInfo | None = None,
    *,
    batch_size: int = 32,
    device=None,
    cache: bool = True,
    progress: bool = True,
    pool: bool = True,
):
    """(features [N, D], labels [N]) of `dataset` at `layer` (default: the pooled features), cached on disk.

    `pool=False` keeps whole feature maps [N, C, H, W]: the input for training the layers above `layer`
    without re-running the frozen layers below it.
    """
    layer = layer or (info.feature_layer if info else None)
    if layer is None:
        raise ValueError("Name the layer to extract (or pass info= from load_backbone for the default).")
    device = torch.device(device) if device else pick_device()

    def compute() -> dict:
        feats, labels = compute_features(model, dataset, layer, info, batch_size, device, progress, pool)
        return {"features": feats, "labels": labels, "layer": layer}

    saved = cached("features", cache_key(model, dataset, layer, pool), compute) if cache else compute()
    return saved["features"], saved["labels"]


@dataclass
class ProbeResult:
    """A fitted linear probe and how well it does."""

    model: Any  # a fitted scikit-learn classifier (a Pipeline from probe_estimator)
    train_acc: float
    val_acc: float
    seconds: float

    def predict_proba(self, features) -> np.ndarray:
        return self.model.predict_proba(np.asarray(features))


def probe_estimator(C: float = 1.0):
    """The linear probe as an unfitted scikit-learn estimator: standardise, then logistic regression.

    Use it wherever scikit-learn takes an estimator (cross_val_score, GridSearchCV); `linear_probe` fits the same one.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def linear_probe(train_features, train_labels, val_features, val_labels, C: float = 1.0) -> ProbeResult:
    """Fit `probe_estimator(C)` on the training features: the simplest honest test of how good features are."""
    t0 = time.perf_counter()
    clf = probe_estimator(C)
    clf.fit(np.asarray(train_features), np.asarray(train_labels))
    seconds = time.perf_counter() - t0
    return ProbeResult(
        clf,
        clf.score(np.asarray(train_features), np.asarray(train_labels)),
        clf.score(np.asarray(val_features), np.asarray(val_labels)),
        seconds,
    )


def train_linear_head(
    train_features,
    train_labels,
    val_features,
    val_labels,
    num_classes: int,
    *,
    epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 32,
    patience: int | None = None,
    device="cpu",
    progress: bool = False,
):
    """A torch Linear layer trained on cached features with the course's own `fit`; returns (head, history)."""
    head = nn.Linear(train_features.shape[1], num_classes)
    train = DataLoader(TensorDataset(train_features, train_labels), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(val_features, val_labels), batch_size=256)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    stopper = EarlyStopping(patience=patience, monitor="val_loss") if patience else None
    history = fit(
        head, train, val, optimizer=optimizer, epochs=epochs, device=device, early_stopping=stopper, progress=progress
    )
    return head, history
