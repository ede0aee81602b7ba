"""Lesson 09's exercise checks accept the solutions and reject typical mistakes with a hint."""

import numpy as np

from tlcourse import checks

from .checking import fails, passes


def split_ok(labels, val_fraction, seed):
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = max(1, round(len(idx) * val_fraction))
        val += idx[:n].tolist()
        train += idx[n:].tolist()
    return train, val


def test_split_check(capsys):
    passes(capsys, checks.check_stratified_split, split_ok)
    fails(checks.check_stratified_split, lambda y, f, s: (list(range(14)), list(range(14, 18))), match="per class")


def test_fold_check(capsys):
    passes(capsys, checks.check_fold_standardisation, lambda m, s, c, b: (c / s, b - (c * m / s).sum(1)))
    fails(checks.check_fold_standardisation, lambda m, s, c, b: (c, b), match="differs")


def test_gradcam_check(capsys):
    passes(capsys, checks.check_gradcam, lambda a, g: (g.mean(dim=(1, 2))[:, None, None] * a).sum(0).clamp(min=0))
    fails(checks.check_gradcam, lambda a, g: (g.mean(dim=(1, 2))[:, None, None] * a).sum(0), match="negative")
