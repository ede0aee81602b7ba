"""Checks for lesson 06: hyperparameters."""

from __future__ import annotations

import operator

import numpy as np

from ..train import replay_early_stopping
from .feedback import exercise, fail, ok


@exercise("06")
def check_exponential_lr(fn) -> str:
    """fn(step, steps, start_lr, end_lr): start_lr at step 0, end_lr at steps-1, geometric in between."""
    got = [float(fn(step, 5, 1e-4, 1.0)) for step in range(5)]
    want = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    if not np.isclose(got[0], want[0], rtol=1e-6):
        fail(f"At step 0 got {got[0]:g}, expected start_lr = 1e-4.", "step / (steps - 1) is 0 at the first step.")
    if not np.isclose(got[-1], want[-1], rtol=1e-6):
        fail(
            f"At the last step got {got[-1]:g}, expected end_lr = 1.",
            "Divide by steps - 1, not steps: the last step is steps - 1.",
        )
    if not np.allclose(got, want, rtol=1e-6):
        hint = (
            "That is linear spacing; each step should *multiply* the LR by the same factor."
            if np.isclose(got[2], (1e-4 + 1.0) / 2, rtol=1e-3)
            else "start_lr * (end_lr / start_lr) ** (step / (steps - 1))."
        )
        fail(f"Got {[f'{v:.0e}' for v in got]}, expected {[f'{v:.0e}' for v in want]}.", hint)
    return ok("exponential_lr sweeps from start_lr to end_lr evenly on a log scale.")


@exercise("06")
def check_cosine_lr(fn) -> str:
    """fn(step, total_steps, peak_lr) = peak_lr * (1 + cos(pi * step / total_steps)) / 2 (CosineAnnealingLR)."""
    total, peak = 8, 0.1
    got = np.array([float(fn(step, total, peak)) for step in range(total + 1)])
    want = peak * (1 + np.cos(np.pi * np.arange(total + 1) / total)) / 2
    if not np.isclose(got[0], peak):
        fail(f"At step 0 got {got[0]:g}, expected peak_lr = {peak}.", "cos(0) = 1, so (1 + 1) / 2 = 1 times peak_lr.")
    if not np.isclose(got[-1], 0.0, atol=1e-9):
        fail(f"At step total_steps got {got[-1]:g}, expected 0.", "Half a cosine wave: the angle goes from 0 to pi.")
    if not np.allclose(got, want):
        fail(
            f"Got {np.round(got, 4).tolist()}, expected {np.round(want, 4).tolist()}.",
            "peak_lr * (1 + np.cos(np.pi * step / total_steps)) / 2.",
        )
    return ok("cosine_lr matches torch's CosineAnnealingLR.")


@exercise("06")
def check_early_stop(fn) -> str:
    """fn(val_losses, patience) -> (stop_epoch, best_epoch), epochs counted from 1."""
    cases = [
        ([1.0, 0.8, 0.9, 0.95, 0.7, 0.6], 2, "stops after two epochs without improvement"),
        ([1.0, 0.8, 0.9, 0.95, 0.7, 0.6], 3, "a longer patience survives the bump"),
        ([0.5, 0.5, 0.5], 2, "an equal loss is not an improvement"),
        ([1.0, 0.9, 0.8], 1, "never stops early: the last epoch"),
        ([0.9, 1.0, 0.8, 1.1], 1, "patience 1 stops at the first bad epoch"),
    ]
    for losses, patience, what in cases:
        want = replay_early_stopping(losses, patience)
        got = _epochs(fn(losses, patience), losses, patience)
        if got != want:
            hint = (
                "Epochs count from 1: enumerate(val_losses, start=1)."
                if got == (want[0] - 1, (want[1] or 0) - 1)
                else "Reset the waiting count when the loss improves; stop once it reaches patience."
                if got[0] != want[0]
                else "best_epoch is the epoch of the lowest loss seen up to the stop."
            )
            fail(f"early_stop({losses}, patience={patience}) gave {got}, expected {want} ({what}).", hint)
    return ok("early_stop agrees with train.EarlyStopping.")


def _epochs(answer, losses, patience) -> tuple[int | None, ...]:
    """The answer as two plain ints (None stays None): a subclass of int cannot answer the comparison its own way."""
    try:
        answer = tuple(answer)
        if len(answer) != 2:
            raise TypeError
        return tuple(None if v is None else int.__int__(v if isinstance(v, int) else operator.index(v)) for v in answer)
    except TypeError:
        fail(
            f"early_stop({losses}, patience={patience}) gave {answer!r}.",
            "Return two whole numbers: (stop_epoch, best_epoch).",
        )
