"""When the untouched validation photos score below what cross-validation promised: the gap named, with two checks
that tell its usual causes apart.

Cross-validation on the training photos estimates how the kept model does on photos like them. The validation
photos can score lower for two reasons a practitioner must tell apart:

- **shift**: the validation photos differ from the training ones (another camera, light, source). Check: can a
  linear classifier tell a training photo from a validation photo by its features? Its cross-validated ROC AUC is
  0.5 when the two sets are drawn alike ("adversarial validation"), per class too.
- **near copies across folds**: several training photos of one subject (a patient, a specimen, a burst of shots)
  land in different folds, so cross-validation grades on photos it has nearly seen. Check: a training photo's
  nearest other training photo is much closer than a validation photo's nearest training photo. Fix: `--groups`.

Both checks use the cached pooled features: no photo is read again. The shift check (a few logistic regressions) runs
only when a gap is named.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..features import probe_estimator
from .choice import Choice
from .features import Features

GAP_SE = 2.0  # a gap is named when it exceeds 2 standard errors of the difference
SHIFT_SE = 3.0  # the sets differ when the AUC is more than 3 null standard deviations above 0.5
NEAR_COPY_MARGIN = 0.05  # training photos' nearest neighbours closer by more than this cosine: near copies


@dataclass
class SetDifference:
    """How well a linear classifier tells training from validation photos by their features (ROC AUC; 0.5: not)."""

    auc: float | None  # None when a set has a single photo
    null_sd: float  # the AUC's standard deviation when both sets are drawn alike (Mann-Whitney)
    per_class: dict[str, float | None]  # the same AUC within each class (None where a class has too few photos)

    @property
    def differs(self) -> bool:
        """Whether the two sets differ beyond what chance gives (SHIFT_SE null standard deviations)."""
        return self.auc is not None and self.auc > 0.5 + SHIFT_SE * self.null_sd


@dataclass
class NearCopies:
    """Median cosine similarity of a photo's features to its nearest training photo (itself excluded)."""

    train_to_train: float
    val_to_train: float

    @property
    def suspected(self) -> bool:
        """Whether training photos have near copies among themselves that validation photos lack."""
        return self.train_to_train - self.val_to_train > NEAR_COPY_MARGIN


@dataclass
class Gap:
    """The kept model's cross-validation estimate against its untouched validation accuracy, and the checks."""

    cv_estimate: float
    val_accuracy: float
    threshold: float  # GAP_SE standard errors of the difference (folds' spread and validation photos' count)
    named: bool
    shift: SetDifference | None  # checked only when the gap is named (a few seconds of logistic regressions)
    near_copies: NearCopies
    message: str

    def to_json(self) -> dict:
        """The gap as metrics.json keeps it, with each check's verdict."""
        return {
            **asdict(self),
            "shift": None if self.shift is None else {**asdict(self.shift), "differs": self.shift.differs},
            "near_copies": {**asdict(self.near_copies), "suspected": self.near_copies.suspected},
        }


def measure_gap(choice: Choice, val_accuracy: float, feats: Features, classes: list[str]) -> Gap | None:
    """The gap and its checks, or None when no cross-validation ran (nothing was promised)."""
    if choice.cv is None:
        return None
    kept = choice.cv.candidates[choice.chosen]
    n_val = len(feats.val)
    se = math.sqrt(kept.std**2 / choice.cv.folds + val_accuracy * (1 - val_accuracy) / n_val)
    threshold = GAP_SE * max(se, 0.5 / n_val)  # never below a quarter of one validation photo's worth
    named = kept.mean - val_accuracy > threshold
    shift = set_difference(feats, classes) if named else None
    copies = near_copies(feats.train.pooled, feats.val.pooled)
    gap = Gap(kept.mean, val_accuracy, threshold, named, shift, copies, "")
    gap.message = _explain(gap) if named else ""
    return gap


def set_difference(feats: Features, classes: list[str]) -> SetDifference:
    """Adversarial validation: the cross-validated AUC of telling training from validation photos, overall and per
    class."""
    per_class = {}
    for c, name in enumerate(classes):
        train, val = feats.train.pooled[feats.train.labels == c], feats.val.pooled[feats.val.labels == c]
        per_class[name] = _domain_auc(train, val)
    auc = _domain_auc(feats.train.pooled, feats.val.pooled)
    n1, n2 = len(feats.train), len(feats.val)
    return SetDifference(auc=auc, null_sd=math.sqrt((n1 + n2 + 1) / (12 * n1 * n2)), per_class=per_class)


def _domain_auc(train: torch.Tensor, val: torch.Tensor, folds: int = 5) -> float | None:
    """ROC AUC of a cross-validated linear probe telling `val` rows from `train` rows (None with too few rows)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    k = min(folds, len(train), len(val))
    if k < 2:
        return None
    x = np.concatenate([np.asarray(train), np.asarray(val)])
    y = np.r_[np.zeros(len(train)), np.ones(len(val))]
    cv = StratifiedKFold(k, shuffle=True, random_state=0)
    scores = cross_val_predict(probe_estimator(C=0.1), x, y, cv=cv, method="decision_function")
    return float(roc_auc_score(y, scores))


def near_copies(train: torch.Tensor, val: torch.Tensor) -> NearCopies:
    """Median similarity of training photos to their nearest other training photo, and of validation photos to
    their nearest training photo (cosine of the pooled features)."""
    t = torch.nn.functional.normalize(train.float(), dim=1)
    v = torch.nn.functional.normalize(val.float(), dim=1)
    within = t @ t.T
    within.fill_diagonal_(-1.0)
    return NearCopies(
        train_to_train=float(within.max(1).values.median()), val_to_train=float((v @ t.T).max(1).values.median())
    )


def _explain(gap: Gap) -> str:
    """What the gap is, which cause the checks point to, and what to do."""
    lines = [
        f"the validation photos score {gap.val_accuracy:.1%}, {100 * (gap.cv_estimate - gap.val_accuracy):.1f} "
        f"points below cross-validation's {gap.cv_estimate:.1%} (more than the noise, {100 * gap.threshold:.1f} "
        "points). Two usual causes, checked on the features:"
    ]
    s, c = gap.shift, gap.near_copies
    assert s is not None, "the shift check runs whenever a gap is named"
    verdict = "they differ" if s.differs else "no clear difference"
    classes = ", ".join(f"{name} {_auc(auc)}" for name, auc in s.per_class.items())
    lines.append(
        f"  shift: a linear classifier tells training from validation photos with AUC {_auc(s.auc)} (0.5 if alike; "
        f"noise {s.null_sd:.2f}): {verdict}. Per class: {classes}."
    )
    closer = (
        "training photos have much closer neighbours among themselves: near copies (or a shift, above)"
        if c.suspected
        else "no sign of near copies"
    )
    lines.append(
        f"  near copies across folds: a training photo's nearest other training photo has similarity "
        f"{c.train_to_train:.2f}, a validation photo's nearest training photo {c.val_to_train:.2f}: {closer}."
    )
    lines.append(
        "  fix for near copies: if several photos show one subject (a patient, a specimen, a burst of shots), keep "
        "them in one fold with --groups (a CSV column or a file-name pattern)."
    )
    if s.differs:
        lines.append(
            "  fix for a shift: add training photos like the validation ones; at prediction time, `tlcourse predict "
            "--adapt-bn` re-estimates the BatchNorm statistics on the new photos (see robustness.png)."
        )
    return "\n".join(lines)


def _auc(auc: float | None) -> str:
    """An AUC as printed (n/a where too few photos)."""
    return "n/a" if auc is None else f"{auc:.2f}"
