"""Checks for lesson 04: choosing a strategy."""

from __future__ import annotations

import numpy as np
from torch import nn

from .feedback import exercise, fail, ok


@exercise("04")
def check_sample_per_class(fn) -> str:
    """fn(labels, k, seed) -> indices of k examples of every class (all indices for k=None), seeded."""
    labels = np.array([0, 1, 2] * 6 + [2, 2])
    got = np.asarray(fn(labels, 3, 0))
    counts = {c: int((labels[got] == c).sum()) for c in range(3)} if got.size else {}
    if got.size != 9 or set(counts.values()) != {3}:
        fail(
            f"Expected 3 indices of each class (9 in all), got counts {counts} from {got.size} indices.",
            "Loop over np.unique(labels); pick k from np.flatnonzero(labels == c) for each class.",
        )
    if len(set(got.tolist())) != len(got):
        fail("Some index was drawn twice.", "rng.choice(pool, k, replace=False) draws without replacement.")
    if not np.array_equal(np.sort(got), np.sort(np.asarray(fn(labels, 3, 0)))):
        fail("Two calls with the same seed gave different indices.", "Use rng = np.random.default_rng(seed).")
    draws = {tuple(np.sort(np.asarray(fn(labels, 3, seed)))) for seed in range(5)}
    if len(draws) == 1:
        fail("Every seed gives the same indices: the draw is not random.", "Draw with rng.choice, not the first k.")
    everything = np.asarray(fn(labels, None, 0))
    if sorted(everything.tolist()) != list(range(len(labels))):
        fail("k=None should return every index once.", "if k is None: return np.arange(len(labels)).")
    return ok("sample_per_class draws k of every class, reproducibly per seed.")


@exercise("04")
def check_freeze_batchnorm(fn) -> str:
    """fn(module) sets requires_grad=False on every BatchNorm parameter and changes nothing else."""
    module = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)),
        nn.Linear(4, 2),
    )
    module[0].weight.requires_grad = False  # frozen before: must stay frozen
    fn(module)
    bn_open = [
        n
        for n, m in module.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
        if p.requires_grad
    ]
    if bn_open:
        fail(
            f"BatchNorm layers still trainable: {sorted(set(bn_open))}.",
            "Walk every sub-module with module.modules(), not only the top-level children.",
        )
    others = dict(module.named_parameters())
    if not others["0.bias"].requires_grad or not others["3.0.weight"].requires_grad:
        fail("A convolution was frozen too.", "Only touch modules that are BatchNorm layers (isinstance check).")
    if others["0.weight"].requires_grad:
        fail("A parameter that was frozen before is trainable now.", "Only set requires_grad = False; never True.")
    return ok("BatchNorm is frozen, everything else is as it was: train mode will keep BN in eval mode.")


@exercise("04")
def check_images_needed(fn) -> str:
    """fn(ks, accuracies, target) -> the smallest k whose accuracy reaches target, or None."""
    ks, accs = [2, 5, 10, 20], [0.6, 0.8, 0.79, 0.95]
    cases = [(0.8, 5), (0.5, 2), (0.9, 20), (0.95, 20), (0.99, None)]
    for target, want in cases:
        got = fn(ks, accs, target)
        if got != want:
            hint = (
                "'At least' includes equality: use >=."
                if target in accs
                else "Return None when no accuracy reaches the target."
                if want is None
                else "Go through ks in order and return the first k that reaches the target."
            )
            fail(f"images_needed({ks}, {accs}, {target}) returned {got!r}, expected {want!r}.", hint)
    return ok("images_needed reads a learning curve as a labelling cost.")
