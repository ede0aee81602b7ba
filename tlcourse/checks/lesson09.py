"""Checks for lesson 09: your own data (stratified split, folding the probe into a head, Grad-CAM)."""

from __future__ import annotations

import numpy as np
import torch

from .feedback import exercise, fail, ok


@exercise("09")
def check_stratified_split(fn) -> str:
    """fn(labels, val_fraction, seed) -> (train indices, val indices), stratified, disjoint, seeded."""
    labels = np.array([0] * 10 + [1] * 5 + [2] * 3)
    got = fn(labels, 0.2, 0)
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(f"Expected a tuple (train_idx, val_idx), got {type(got).__name__}.", "return train_idx, val_idx")
    train_idx, val_idx = (sorted(int(i) for i in part) for part in got)
    if set(train_idx) & set(val_idx):
        fail(f"Indices {sorted(set(train_idx) & set(val_idx))} are in both parts.", "Each photo goes to one part.")
    if sorted(train_idx + val_idx) != list(range(len(labels))):
        fail("Some photos are missing from both parts (or repeated).", "Split every class's indices in two.")
    per_class = [int((labels[val_idx] == c).sum()) for c in range(3)]
    if per_class != [2, 1, 1]:
        fail(
            f"Validation photos per class: {per_class}, expected [2, 1, 1].",
            "Per class: max(1, round(n * val_fraction)) photos, so even the smallest class is validated.",
        )
    again = [sorted(int(i) for i in part) for part in fn(labels, 0.2, 0)]
    if again != [train_idx, val_idx]:
        fail("The same seed gave a different split.", "Draw with np.random.default_rng(seed).")
    return ok("Stratified, disjoint and reproducible: every class is in both parts.")


def _probe(n_classes: int):
    """A StandardScaler + LogisticRegression fitted on random data, and that data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(n_classes)
    x = rng.normal(3.0, 2.0, (60, 5))
    y = np.arange(60) % n_classes
    scaler = StandardScaler().fit(x)
    return scaler, LogisticRegression(max_iter=1000).fit(scaler.transform(x), y), x


@exercise("09")
def check_fold_standardisation(fn) -> str:
    """fn(mean, scale, coef, intercept) -> (W, b) with W @ x + b == the probe's logits on *raw* features."""
    for n_classes in (3, 2):
        scaler, clf, x = _probe(n_classes)
        weight, bias = fn(scaler.mean_, scaler.scale_, clf.coef_, clf.intercept_)
        got = np.asarray(x) @ np.asarray(weight).T + np.asarray(bias)
        want = clf.decision_function(scaler.transform(x)).reshape(len(x), -1)
        if got.shape != want.shape:
            fail(
                f"Logits of shape {got.shape}, expected {want.shape} ({n_classes} classes).",
                "W has coef's shape; b has intercept's.",
            )
        if not np.allclose(got, want, atol=1e-6):
            fail(
                f"W x + b differs from the probe's logits by up to {np.abs(got - want).max():.3g}.",
                "(x - mean) / scale, then coef: W = coef / scale, b = intercept - (coef * mean / scale).sum(1).",
            )
    return ok("The standardisation is folded into one linear layer: same logits on raw features.")


@exercise("09")
def check_gradcam(fn) -> str:
    """fn(activations [C, H, W], gradients [C, H, W]) -> a [H, W] map: ReLU(sum_c mean(grad_c) * A_c)."""
    torch.manual_seed(0)
    acts = torch.rand(4, 3, 3)
    grads = torch.zeros(4, 3, 3)
    grads[1] = 1.0  # only channel 1 matters for the class
    got = fn(acts, grads)
    if not torch.is_tensor(got) or tuple(got.shape) != (3, 3):
        fail(
            f"Expected a 3x3 tensor, got {getattr(got, 'shape', type(got).__name__)}.",
            "Weight each channel, then sum over channels (dim 0).",
        )
    if not torch.allclose(got, acts[1], atol=1e-6):
        fail(
            "With only channel 1's gradient non-zero, the map should be that channel's activation.",
            "weights = gradients.mean(dim=(1, 2)); map = (weights[:, None, None] * activations).sum(0).",
        )
    if fn(acts, -grads).min() < 0:
        fail("The map has negative values.", "Keep only evidence *for* the class: .clamp(min=0) (a ReLU).")
    return ok("Grad-CAM: channels weighted by their mean gradient, summed, negatives dropped.")
