"""`tlcourse train` from start to end: options, data, features, the choice, the kept model, the outputs, in order.

`train_recipe` is the one place the --device option becomes a `torch.device` (this rank's, under torchrun); every
step after it is given that device.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import torch

from .. import distributed, models
from ..runtime import pick_device, seed_everything
from .candidates import fine_tune_top, fit_probe
from .choice import decide, runs_cross_validation
from .data import load_data, print_data_report
from .features import extract
from .options import MODEL_FILE, TrainConfig, check_options
from .report import Kept, Timings, TrainResult, write_outputs
from .robustness import Robustness, robustness_line, robustness_report

R = TypeVar("R")


def train_recipe(cfg: TrainConfig) -> TrainResult | None:
    """Run the whole recipe; returns what it wrote to `--out` (on rank 0; None on the other ranks).

    Launched by torchrun, it joins the process group first (gloo on the CPU, nccl on CUDA) and leaves it at the end.
    """
    device = distributed.setup(pick_device(cfg.device))  # the --device option as this rank's torch.device
    if distributed.is_initialized():
        cfg = replace(cfg, progress=cfg.progress and distributed.is_main())
    try:
        with _only_rank0_speaks():
            return _run_recipe(cfg, device)
    finally:
        distributed.teardown()


def _run_recipe(cfg: TrainConfig, device: torch.device) -> TrainResult | None:
    """The recipe's steps in order: data, features, the choice and the kept model, then rank 0's outputs."""
    started = time.perf_counter()
    check_options(cfg)
    seed_everything(cfg.seed)
    photos, check_data_s = _timed(load_data, cfg)
    print_data_report(photos.report)
    backbone = models.load_backbone(cfg.backbone)
    feats, features_s = _timed(extract, backbone, photos.train, photos.val, device=device, progress=cfg.progress)
    shared = f", shared by {distributed.world_size()} processes" if distributed.is_initialized() else ""
    print(f"features: {len(photos.train) + len(photos.val)} photos in {features_s:.1f} s (cached per photo{shared})")
    num_classes = len(photos.train.classes)
    choice, choice_s = _timed(
        decide, backbone, feats.train, num_classes=num_classes, cfg=cfg, device=device, groups=photos.train_groups
    )
    (head, probe), probe_s = _timed(fit_probe, feats, num_classes) if distributed.is_main() else ((None, None), 0.0)
    tuned, fine_tune_s = None, None
    if choice.chosen == "fine-tuned":
        kw = dict(num_classes=num_classes, epochs=cfg.epochs, seed=cfg.seed, device=device, progress=cfg.progress)
        tuned, fine_tune_s = _timed(fine_tune_top, backbone, feats.train, **kw)
        print(
            f"fine-tuned top stage on all training photos: best epoch {tuned.history.best_epoch}, "
            f"{tuned.history.stop_reason}"
        )
    if not distributed.is_main():
        return None
    assert head is not None
    kept = Kept.of(head, tuned, probe, len(photos.train))
    robust, robustness_s = (
        _timed(_robustness, cfg, backbone, kept, photos, feats, device) if cfg.robustness else (None, None)
    )
    cv_s = choice_s if runs_cross_validation(cfg, feats.has_maps) else None
    timings = Timings(check_data_s, features_s, cv_s, probe_s, fine_tune_s, robustness_s)
    result = write_outputs(
        cfg, backbone, photos, feats, choice=choice, kept=kept, robustness=robust, timings=timings, started=started
    )
    _print_summary(cfg, result, len(photos.val))
    return result


def _robustness(cfg: TrainConfig, backbone, kept: Kept, photos, feats, device: torch.device) -> Robustness:
    """The kept model under lesson 12's shifts, and AdaBN on samples of both splits (writes adapt_bn.pt)."""
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    args = (backbone, kept, photos.train, photos.val, feats)
    return robustness_report(*args, out=Path(cfg.out), seed=cfg.seed, device=device)


def _timed(step: Callable[..., R], *args, **kwargs) -> tuple[R, float]:
    """(what `step(*args, **kwargs)` returns, the seconds it took)."""
    t0 = time.perf_counter()
    result = step(*args, **kwargs)
    return result, time.perf_counter() - t0


def _print_summary(cfg: TrainConfig, result: TrainResult, val_photos: int) -> None:
    """The kept model's validation accuracy (overall, per class) and the files written."""
    scores = result.scores
    print(
        f"val accuracy {scores.val_accuracy:.1%} ({val_photos} photos neither the choice nor training used); "
        "per class: " + ", ".join(f"{c} {a:.0%}" for c, a in scores.per_class_val_accuracy.items())
    )
    if result.gap is not None and result.gap.named:
        print(f"gap: {result.gap.message}")
    if result.robustness is not None:
        print(robustness_line(result.robustness))
    print(f"wrote {cfg.out}/{MODEL_FILE}, metrics.json, {', '.join(result.figures)} in {result.timings.total:.0f} s")


@contextlib.contextmanager
def _only_rank0_speaks():
    """Under torchrun, ranks other than 0 print and warn nothing: rank 0 says everything once, for all."""
    if distributed.is_main():
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
