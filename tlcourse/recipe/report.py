"""What `tlcourse train` leaves in --out: the kept model scored once on the validation photos, `model.pt`,
`metrics.json` and the figures, every file written atomically."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import images, models
from ..storage import atomic_write
from ..train import History
from .candidates import FineTuned, KeptLayers, ProbeScore, assemble, kept_probabilities
from .choice import Choice
from .data import Photos
from .features import Features
from .gap import Gap, measure_gap
from .options import MODEL_FILE, TrainConfig
from .robustness import ADAPT_FILE, Robustness, plot_robustness

REPORTED_ON = (
    "val_accuracy: the kept model on the {n} validation photos, which neither the choice nor any training "
    "(early stopping included) used"
)


@dataclass
class ValMetrics:
    """The kept model on the validation photos: overall and per-class accuracy, the confusion matrix."""

    val_accuracy: float
    per_class_val_accuracy: dict[str, float]
    confusion_matrix: list[list[int]]  # rows true, columns predicted


@dataclass
class Kept(KeptLayers):
    """The model the recipe keeps (a head, on top of a fine-tuned top stage or not) and both candidates' records."""

    history: History | None
    probe: ProbeScore | None
    fine_tune: FineTuneRecord | None  # None when the probe is kept

    @classmethod
    def of(cls, probe_head: nn.Linear, tuned: FineTuned | None, probe: ProbeScore | None, photos: int) -> Kept:
        """The fine-tuned top stage and its head when fine-tuning was kept, else the probe's head."""
        if tuned is None:
            return cls(head=probe_head, top=None, history=None, probe=probe, fine_tune=None)
        record = FineTuneRecord.of(tuned, photos)
        return cls(head=tuned.head, top=tuned.top, history=tuned.history, probe=probe, fine_tune=record)


@dataclass
class FineTuneRecord:
    """How the kept top stage was fine-tuned: photos fitted on and watched by early stopping, the epochs run."""

    fit_photos: int
    early_stopping_photos: int  # training photos held out of the fit; never the validation photos
    best_epoch: int | None
    epochs_run: int
    stop_reason: str
    records: list[dict]  # the History's per-epoch records

    @classmethod
    def of(cls, tuned: FineTuned, photos: int) -> FineTuneRecord:
        """The record of a fine-tuning run on `photos` training photos."""
        history = tuned.history
        return cls(
            fit_photos=photos - tuned.stop_photos,
            early_stopping_photos=tuned.stop_photos,
            best_epoch=history.best_epoch,
            epochs_run=len(history),
            stop_reason=history.stop_reason,
            records=history.records,
        )


@dataclass
class TrainResult:
    """What `tlcourse train` made: the choice, the kept model's validation scores, the figures and the seconds.

    `metrics` is metrics.json's document, as written next to the model.
    """

    out: Path
    choice: Choice
    scores: ValMetrics
    figures: list[str]
    timings: Timings
    metrics: dict
    gap: Gap | None = None  # cross-validation's estimate against the validation accuracy (None: no CV ran)
    robustness: Robustness | None = None  # None with --no-robustness


@dataclass
class Timings:
    """Seconds each step took (None: the step did not run), as metrics.json reports them."""

    check_data: float
    features: float
    cross_validation: float | None
    probe: float
    fine_tune: float | None
    robustness: float | None = None
    total: float | None = None  # set when the outputs are written

    def to_json(self) -> dict:
        """The steps that ran, with their seconds."""
        return {step: s for step, s in asdict(self).items() if s is not None}


def val_metrics(probs: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> ValMetrics:
    """Overall and per-class validation accuracy, and the confusion matrix (rows true, columns predicted)."""
    pred = probs.argmax(1)
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(labels.tolist(), pred.tolist()):
        matrix[t, p] += 1
    return ValMetrics(
        val_accuracy=float((pred == labels).float().mean()),
        per_class_val_accuracy={c: float(matrix[i, i] / max(1, matrix[i].sum())) for i, c in enumerate(classes)},
        confusion_matrix=matrix.tolist(),
    )


def save_figures(
    out: Path, probs: torch.Tensor, val: images.ImageFiles, scores: ValMetrics, history: History | None
) -> list[str]:
    """confusion.png, misclassified.png (photos with their probabilities) and, if fine-tuned, learning_curve.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import plot_confusion, plot_history

    ax = plot_confusion(np.array(scores.confusion_matrix), val.classes, title="Validation confusion matrix")
    written = [_save(ax.figure, out / "confusion.png")]
    wrong = [i for i, (p, y) in enumerate(zip(probs.argmax(1).tolist(), val.targets)) if p != y][:18]
    if wrong:
        written.append(_save(_misclassified(probs, val, wrong), out / "misclassified.png"))
    if history is not None and len(history):
        axes = plot_history(history)
        axes[0].figure.suptitle(
            "Fine-tuning the top stage (cached stage6 maps); validation = the training photos held out for early "
            "stopping",
            y=1.04,
            fontsize=9,
        )
        written.append(_save(axes[0].figure, out / "learning_curve.png"))
    plt.close("all")
    return written


def _misclassified(probs: torch.Tensor, val: images.ImageFiles, wrong: list[int]):
    """A grid of the misclassified validation photos, each titled with its true and predicted class."""
    from ..plots import show_images

    photos = [images.open_rgb(val.samples[i][0], 256) for i in wrong]
    titles = [
        f"true {val.classes[val.targets[i]]}\npred {val.classes[int(probs[i].argmax())]} {float(probs[i].max()):.0%}"
        for i in wrong
    ]
    return show_images(photos, titles, ncols=min(6, len(wrong)), title="Misclassified validation photos")


def _save(fig, path: Path) -> str:
    """Write a figure as PNG through a temporary file, so a crash never leaves half an image."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    return path.name


def write_json(obj: dict, path: Path) -> None:
    """JSON written atomically (temporary file, then rename)."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def write_outputs(
    cfg: TrainConfig,
    backbone: models.LoadedBackbone,
    photos: Photos,
    feats: Features,
    *,
    choice: Choice,
    kept: Kept,
    robustness: Robustness | None,
    timings: Timings,
    started: float,
) -> TrainResult:
    """Model checkpoint (self-describing), metrics.json and figures into --out; returns what was written."""
    out, classes = Path(cfg.out), photos.train.classes
    out.mkdir(parents=True, exist_ok=True)
    probs = kept_probabilities(kept, feats.val)
    scores = val_metrics(probs, feats.val.labels, classes)
    figures = save_figures(out, probs, photos.val, scores, kept.history)
    if robustness is not None:
        figures.append(plot_robustness(robustness, out / "robustness.png"))
    else:
        (out / ADAPT_FILE).unlink(missing_ok=True)  # an earlier run's adaptation belongs to an earlier model
    gap = measure_gap(choice, scores.val_accuracy, feats, classes)
    model = assemble(backbone, kept.head, kept.top)
    timings = replace(timings, total=time.perf_counter() - started)
    metrics = {
        "backbone": cfg.backbone,
        "classes": classes,
        "data": photos.report.to_json(),
        "chosen": choice.chosen,
        "why": choice.why,
        "choice": choice.to_json(),
        "probe": None if kept.probe is None else asdict(kept.probe),
        "fine_tune": None if kept.fine_tune is None else asdict(kept.fine_tune),
        **asdict(scores),
        "reported_on": REPORTED_ON.format(n=len(photos.val)),
        "gap": None if gap is None else gap.to_json(),
        "robustness": None if robustness is None else asdict(robustness),
        "figures": figures,
        "seconds": timings.to_json(),
    }
    summary = {k: metrics[k] for k in ("chosen", "why", "val_accuracy", "per_class_val_accuracy")}
    models.save_model(out / MODEL_FILE, model, backbone.info, classes, backbone.transform, meta=summary)
    write_json(metrics, out / "metrics.json")
    return TrainResult(out, choice, scores, figures, timings, metrics, gap, robustness)
