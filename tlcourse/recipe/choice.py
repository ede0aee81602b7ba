"""Which candidate `tlcourse train` keeps: in `--fine-tune auto`, cross-validation on the training photos (never
the validation ones) and a rule: the fine-tuned top stage only if it beats the probe by more than the noise."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import distributed, models
from .candidates import accuracy, fine_tune_top, probe_head
from .features import SplitFeatures
from .groups import fold_splitter
from .options import TrainConfig

NOISE_SE = 2.0  # fine-tuning is kept only if its mean fold accuracy beats the probe's by more than 2 standard errors


@dataclass
class Candidate:
    """One candidate's accuracy on each held-out fold, their mean and their spread (std)."""

    fold_accuracy: list[float]
    mean: float
    std: float


@dataclass
class Difference:
    """Fine-tuned minus probe over paired folds: the mean, its standard error, and the threshold the rule uses."""

    mean: float
    standard_error: float
    threshold: float


@dataclass
class CrossValidation:
    """What cross-validation on the training photos measured, and the rule applied to it."""

    method: str
    rule: str
    folds: int
    candidates: dict[str, Candidate]  # "probe" and "fine-tuned"
    difference: Difference


@dataclass
class Choice:
    """The kept candidate ("probe" or "fine-tuned"), why, and the cross-validation behind it (None if not run)."""

    chosen: str
    why: str
    cv: CrossValidation | None = None

    def to_json(self) -> dict:
        """metrics.json's "choice": the cross-validation, or the reason no choice was made."""
        return asdict(self.cv) if self.cv is not None else {"method": f"no choice made: {self.why}"}


def cross_validate(
    backbone: models.LoadedBackbone,
    train: SplitFeatures,
    *,
    num_classes: int,
    cfg: TrainConfig,
    device: torch.device,
    groups: list[str] | None = None,
) -> CrossValidation | None:
    """Accuracy of the probe and of fine-tuning on each held-out fold of the training photos (paired folds).

    Stratified k-fold with k = --folds, or fewer when a class has fewer training photos; None when a class has
    only one. With `groups` (--groups), no group is split between folds. It is given the training photos alone:
    the choice cannot depend on the validation photos.
    """
    y = train.labels
    k = min(cfg.folds, int(torch.bincount(y, minlength=num_classes).min()))
    if groups is not None:
        k = min(k, len(set(groups)))
    if k < 2:
        return None
    probe: list[float] = []
    fine_tuned: list[float] = []
    splitter = fold_splitter(k, cfg.seed, groups)
    for fit_idx, held_idx in splitter.split(np.zeros(len(y)), y.numpy(), groups):
        fold, held = train.subset(torch.as_tensor(fit_idx)), train.subset(torch.as_tensor(held_idx))
        head = probe_head(fold.pooled, fold.labels, num_classes)
        probe.append(accuracy(head, None, held.pooled, held.labels))
        tuned = fine_tune_top(
            backbone, fold, num_classes=num_classes, epochs=cfg.epochs, seed=cfg.seed, device=device, progress=False
        )
        assert held.maps is not None  # cross-validation runs only when the top stage can be fine-tuned
        fine_tuned.append(accuracy(tuned.head, tuned.top, held.maps, held.labels))
    return summarise_folds(probe=probe, fine_tuned=fine_tuned, photos=len(y), grouped=groups is not None)


def summarise_folds(
    *, probe: list[float], fine_tuned: list[float], photos: int, grouped: bool = False
) -> CrossValidation:
    """Each candidate's mean and spread over the folds, and the paired difference with its standard error."""
    diff = np.array(fine_tuned) - np.array(probe)
    k = len(diff)
    se = float(diff.std(ddof=1) / np.sqrt(k))
    return CrossValidation(
        method=f"{k}-fold stratified {'group ' if grouped else ''}cross-validation on the {photos} training photos "
        "(validation photos unused)",
        rule=f"keep the fine-tuned top stage only if its mean fold accuracy beats the probe's by more than "
        f"{NOISE_SE:g} standard errors of the paired fold differences (the noise), else the simpler probe",
        folds=k,
        candidates={
            name: Candidate(fold_accuracy=acc, mean=float(np.mean(acc)), std=float(np.std(acc, ddof=1)))
            for name, acc in (("probe", probe), ("fine-tuned", fine_tuned))
        },
        difference=Difference(mean=float(diff.mean()), standard_error=se, threshold=NOISE_SE * se),
    )


def choose(cv: CrossValidation | None, mode: str, reason_skipped: str = "") -> Choice:
    """What is kept, and why: in auto mode, fine-tuning only if cross-validation says it beat the probe beyond noise."""
    if mode == "none":
        return Choice("probe", "fine-tuning not asked for (--fine-tune none)")
    if reason_skipped:
        return Choice("probe", reason_skipped)
    if mode == "top":
        return Choice("fine-tuned", "--fine-tune top asked for it (no choice made)")
    if cv is None:
        return Choice(
            "probe", "a class has a single training photo: too few to cross-validate, so the simpler probe is kept"
        )
    c, d = cv.candidates, cv.difference
    scores = (
        f"fine-tuned {c['fine-tuned'].mean:.1%} vs probe {c['probe'].mean:.1%} over {cv.folds} folds; "
        f"difference {100 * d.mean:+.1f} points, noise threshold {100 * d.threshold:.1f} "
        f"({NOISE_SE:g} standard errors)"
    )
    if d.mean > max(0.0, d.threshold):
        return Choice(
            "fine-tuned", f"cross-validation on the training photos: fine-tuning beat the probe ({scores})", cv
        )
    why = (
        f"cross-validation on the training photos: fine-tuning did not beat the probe by more than the noise "
        f"({scores}), so the simpler probe is kept"
    )
    return Choice("probe", why, cv)


def decide(
    backbone: models.LoadedBackbone,
    train: SplitFeatures,
    *,
    num_classes: int,
    cfg: TrainConfig,
    device: torch.device,
    groups: list[str] | None = None,
) -> Choice:
    """The choice, made once on rank 0's numbers and given to every rank, then printed."""
    skipped = ""
    if cfg.fine_tune != "none" and train.maps is None:
        skipped = f"top-stage fine-tuning on cached maps needs an EfficientNet-Lite backbone, not {cfg.backbone}"
    cv = None
    if cfg.fine_tune == "auto" and not skipped:
        cv = cross_validate(backbone, train, num_classes=num_classes, cfg=cfg, device=device, groups=groups)
    choice = distributed.broadcast_object(choose(cv, cfg.fine_tune, skipped))  # rank 0's, for every rank
    print_choice(choice)
    return choice


def runs_cross_validation(cfg: TrainConfig, has_maps: bool) -> bool:
    """Whether `decide` cross-validates: --fine-tune auto on a backbone whose top stage can be fine-tuned."""
    return cfg.fine_tune == "auto" and has_maps


def print_choice(choice: Choice) -> None:
    """The folds' accuracies of each candidate (when cross-validated) and what was kept, with why."""
    if choice.cv is not None:
        print(f"choice: {choice.cv.method}")
        for name, c in choice.cv.candidates.items():
            folds = " ".join(f"{a:.0%}" for a in c.fold_accuracy)
            print(f"  {name:11} {c.mean:6.1%} (fold std {100 * c.std:.1f} points; folds {folds})")
    print(f"chosen: {choice.chosen} ({choice.why})")
