"""Harnesses for comparisons a lesson runs many times: strategies against the number of labelled examples."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .subsets import sample_per_class

Strategy = Callable[[np.ndarray, int], float]  # (indices of the labelled examples, seed) -> validation accuracy


def data_efficiency(
    strategies: dict[str, Strategy], labels, ks: Sequence[int | None], seeds: Sequence[int]
) -> dict[str, np.ndarray]:
    """Accuracy [len(ks), len(seeds)] of every strategy, each given the same k-per-class draw for a (k, seed).

    k = None means every labelled example. Sharing the draw makes the comparison paired: differences between
    strategies are not differences between lucky and unlucky samples.
    """
    results = {name: np.zeros((len(ks), len(seeds))) for name in strategies}
    for i, k in enumerate(ks):
        for j, seed in enumerate(seeds):
            idx = sample_per_class(labels, k, seed)
            for name, run in strategies.items():
                results[name][i, j] = run(idx, seed)
    return results


def k_axis(labels, ks: Sequence[int | None]) -> tuple[list[float], list[str]]:
    """x positions and tick labels for ks on a plot: 'all' (None) sits at the mean number of examples per class."""
    all_k = len(labels) / len(np.unique(np.asarray(labels)))
    return [k or all_k for k in ks], [str(k) if k else f"all\n(~{all_k:.0f})" for k in ks]
