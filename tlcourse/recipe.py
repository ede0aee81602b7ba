"""`tlcourse train DATA`: a classifier for one's own photos, chosen on the training photos, reported on unseen ones.

The recipe: check the data and say what is in it; run the frozen backbone once (features cached per image);
fit a linear probe; in `--fine-tune auto`, cross-validate the probe and the fine-tuned top stage on the *training*
photos and keep the fine-tuned one only if it wins by more than the fold-to-fold noise; report the kept model's
accuracy on the validation photos, which neither the choice nor any training (early stopping included) has seen
(lesson 06: pick by CV, touch the test split once). It writes a self-describing model, `metrics.json` and figures
to `--out`. Bad input is a one-line TrainInputError naming the fix.

Under `torchrun --nproc-per-node N` the same command runs on N processes: each extracts its share of the photos
into the shared per-photo cache, rank 0 alone fits the probe and makes the choice (broadcast to the others), the
kept top stage is fine-tuned with DistributedDataParallel on all of them (the batch per process is divided so the
effective batch stays the single-process one), and rank 0 alone prints and writes the outputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from . import distributed, efficientnet_lite, feature_store, images, models, surgery
from .errors import TLCourseError
from .features import linear_probe, probe_estimator
from .runtime import seed_everything
from .storage import atomic_write
from .train import EarlyStopping, History, fit

CUT = "stage6"  # fine-tuning "the top stage" = the layers above stage6 (stage7 + head), trained on cached maps
MODEL_FILE = "model.pt"
NOISE_SE = 2.0  # fine-tuning is kept only if its mean fold accuracy beats the probe's by more than 2 standard errors
BATCH = 32  # photos' maps per fine-tuning step (divided among the processes under torchrun)
STOP_FRACTION = 0.2  # of each class's photos given to fine-tuning, held out from its fit to early-stop on


class TrainInputError(TLCourseError, ValueError):
    """The data or the options given to `tlcourse train` cannot be used as they are."""


@dataclass
class TrainConfig:
    """Everything `tlcourse train` was asked to do."""

    data: Path | None
    out: Path
    csv: Path | None = None
    images: Path | None = None
    backbone: str = "efficientnet_lite0"
    fine_tune: str = "auto"  # none | top | auto
    val_fraction: float = 0.2
    seed: int = 0
    epochs: int = 10
    folds: int = 5  # cross-validation folds on the training photos for --fine-tune auto
    overwrite: bool = False
    progress: bool = True
    device: str | None = None


def check_options(cfg: TrainConfig) -> None:
    """Refuse bad options before any work: missing paths, unknown modes, an --out that holds another model."""
    if cfg.fine_tune not in ("none", "top", "auto"):
        raise TrainInputError(f"--fine-tune must be none, top or auto, not {cfg.fine_tune!r}.")
    if cfg.folds < 2:
        raise TrainInputError(f"--folds must be at least 2 (cross-validation needs two folds), not {cfg.folds}.")
    if (cfg.csv is None) == (cfg.data is None):
        raise TrainInputError(
            "Give either DATA (a folder of class folders) or --csv labels.csv --images DIR, not both."
            if cfg.csv
            else "Give DATA (a folder of class folders) or --csv labels.csv."
        )
    if cfg.images is not None and cfg.csv is None:
        raise TrainInputError("--images goes with --csv (the folder of the photos the CSV names).")
    for label, path in (("DATA", cfg.data), ("--csv", cfg.csv), ("--images", cfg.images)):
        if path is not None and not Path(path).exists():
            raise TrainInputError(
                f"{label} {path} does not exist. Fix: check the path (it is relative to {Path.cwd()})."
            )
    if cfg.fine_tune == "top" and cfg.backbone not in models.LITE_BACKBONES:
        raise TrainInputError(
            f"--fine-tune top works with {', '.join(models.LITE_BACKBONES)}; use auto or none with {cfg.backbone}."
        )
    if cfg.data is not None and Path(cfg.out).resolve().is_relative_to(Path(cfg.data).resolve()):
        raise TrainInputError(
            f"--out {cfg.out} is inside the photo folder {cfg.data}: its figures would be read as "
            "photos next time. Fix: choose an --out folder outside it."
        )
    check_out_dir(Path(cfg.out), cfg.overwrite)


def check_out_dir(out: Path, overwrite: bool) -> None:
    """--out must be a folder (or absent), and a model already there is replaced only with --overwrite."""
    if out.exists() and not out.is_dir():
        raise TrainInputError(f"--out {out} is a file, not a folder. Fix: choose a folder name.")
    existing = [p.name for p in (out / MODEL_FILE, out / "metrics.json") if p.exists()]
    if existing and not overwrite:
        raise TrainInputError(
            f"--out {out} already holds a model ({', '.join(existing)}). Fix: pass --overwrite "
            "to replace it, or choose another --out folder."
        )


def _load_splits(cfg: TrainConfig) -> tuple[images.ImageFiles, images.ImageFiles, str]:
    """(train, val, how they were made) from an ImageFolder tree, one folder of class folders, or a CSV."""
    if cfg.csv is not None:
        full = images.image_csv(cfg.csv, cfg.images)
        where = cfg.images or Path(cfg.csv).parent
        how = f"{cfg.csv} + {where}, divided {1 - cfg.val_fraction:.0%}/{cfg.val_fraction:.0%}"
    elif cfg.data is None:
        raise TrainInputError("Give DATA (a folder of photos) or --csv with --images. Fix: see tlcourse train --help.")
    elif (cfg.data / "train").is_dir() and (cfg.data / "val").is_dir():
        parts = images.image_splits(cfg.data)
        return parts["train"], parts["val"], f"{cfg.data}/train and {cfg.data}/val as given"
    elif (cfg.data / "train").is_dir():
        full = images.image_folder(cfg.data / "train")
        how = f"{cfg.data}/train (no val/ folder), divided {1 - cfg.val_fraction:.0%}/{cfg.val_fraction:.0%}"
    else:
        full = images.image_folder(cfg.data)
        how = f"{cfg.data}, divided {1 - cfg.val_fraction:.0%}/{cfg.val_fraction:.0%}"
    train, val = images.split(full, cfg.val_fraction, stratify=True, seed=cfg.seed)
    return train, val, f"{how} (stratified, seed {cfg.seed})"


def load_data(cfg: TrainConfig) -> tuple[images.ImageFiles, images.ImageFiles, dict]:
    """Train and val datasets with one class list, and a report: classes, counts, imbalance, files left out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            train, val, how = _load_splits(cfg)
        except (images.SplitMismatchError, images.DataFolderError) as err:
            raise TrainInputError(str(err)) from None
        except ValueError as err:  # one class only, a class too small to split, a CSV without file/label
            raise TrainInputError(str(err)) from None
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    counts = {c: {"train": n, "val": val.class_counts()[c]} for c, n in train.class_counts().items()}
    train_n = [v["train"] for v in counts.values()]
    report = {
        "classes": train.classes,
        "counts": counts,
        "splits": how,
        "notes": notes,
        "imbalance": max(train_n) / max(1, min(train_n)),
    }
    return train, val, report


def print_data_report(report: dict) -> None:
    """The data as the recipe sees it, before any training."""
    print(f"data: {report['splits']}")
    for c, n in report["counts"].items():
        print(f"  {c:24} train {n['train']:5}   val {n['val']:5}")
    if report["imbalance"] >= 3:
        print(
            f"  imbalance: the largest class has {report['imbalance']:.1f}x the photos of the smallest; "
            "accuracy is reported per class too"
        )
    for note in report["notes"]:
        print(f"  note: {note}")


def extract(backbone: models.LoadedBackbone, train, val, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """Cached inputs for the heads: stage6 maps + pooled features (Lite), or pooled features (other backbones)."""
    model, transform, info = backbone
    train, val = train.with_transform(transform), val.with_transform(transform)
    kw: dict[str, Any] = dict(device=cfg.device, progress=cfg.progress)
    out = {"y_train": torch.as_tensor(train.targets), "y_val": torch.as_tensor(val.targets)}
    if info.name not in models.LITE_BACKBONES:
        out["f_train"] = feature_store.image_features(model, train, info=info, **kw)[0]
        out["f_val"] = feature_store.image_features(model, val, info=info, **kw)[0]
        return out
    out["m_train"] = feature_store.image_features(model, train, CUT, info, pool=False, **kw)[0]
    out["m_val"] = feature_store.image_features(model, val, CUT, info, pool=False, **kw)[0]
    top = efficientnet_lite.layers_above(cast(efficientnet_lite.EfficientNetLite, model), CUT).eval()
    out["f_train"], out["f_val"] = _run_top(top, out["m_train"]), _run_top(top, out["m_val"])
    return out


@torch.no_grad()
def _run_top(top: nn.Module, maps: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Pooled features from cached maps: the layers above the cut, run once (same as the full forward pass)."""
    return torch.cat([top(maps[i : i + batch_size]) for i in range(0, len(maps), batch_size)])


def probe_as_linear(pipeline, num_classes: int) -> nn.Linear:
    """A fitted StandardScaler + LogisticRegression pipeline as one nn.Linear on raw features (same probabilities)."""
    scaler, clf = pipeline[0], pipeline[-1]
    if list(clf.classes_) != list(range(num_classes)):
        raise TrainInputError(f"Every class needs training photos; the probe saw classes {list(clf.classes_)}.")
    coef = torch.as_tensor(clf.coef_ / scaler.scale_, dtype=torch.float32)
    bias = torch.as_tensor(clf.intercept_ - (clf.coef_ * scaler.mean_ / scaler.scale_).sum(1), dtype=torch.float32)
    if num_classes == 2:  # binary logistic regression has one logit: softmax([0, z]) = sigmoid(z)
        coef, bias = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros_like(bias), bias])
    head = nn.Linear(coef.shape[1], num_classes)
    with torch.no_grad():
        head.weight.copy_(coef)
        head.bias.copy_(bias)
    return head


def fit_probe(feats: dict, num_classes: int) -> tuple[nn.Linear, dict]:
    """Logistic regression on all the training photos' pooled features, as a torch head, scored on val after."""
    probe = linear_probe(feats["f_train"], feats["y_train"], feats["f_val"], feats["y_val"])
    head = probe_as_linear(probe.model, num_classes)
    return head, {"train_acc": probe.train_acc, "val_acc": probe.val_acc, "seconds": probe.seconds}


def probe_head(pooled: torch.Tensor, labels: torch.Tensor, num_classes: int) -> nn.Linear:
    """The probe fitted on these features alone, as an nn.Linear (no validation data involved)."""
    return probe_as_linear(probe_estimator().fit(np.asarray(pooled), np.asarray(labels)), num_classes)


@torch.no_grad()
def accuracy(head: nn.Linear, top: nn.Module | None, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of photos classified right: pooled features through the head, or cached maps through top + head."""
    pooled = _run_top(top.eval(), inputs) if top is not None else inputs
    return int((head.eval()(pooled).argmax(1) == labels).sum()) / len(labels)


def stopping_split(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fit, stop) indices: per class, int(n * STOP_FRACTION) photos kept out of the fit to early-stop on.

    A class with fewer than 5 photos gives none (all of them train); with no stop photos at all, fine-tuning
    runs its full --epochs.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    fit_idx, stop_idx = [], []
    for c in np.unique(y):
        order = rng.permutation(np.flatnonzero(y == c))
        n_stop = int(len(order) * STOP_FRACTION)
        stop_idx += order[:n_stop].tolist()
        fit_idx += order[n_stop:].tolist()
    return torch.as_tensor(sorted(fit_idx)), torch.as_tensor(sorted(stop_idx), dtype=torch.long)


def fine_tune_top(
    backbone: models.LoadedBackbone,
    maps: torch.Tensor,
    pooled: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    cfg: TrainConfig,
    progress: bool,
) -> tuple[nn.Sequential, nn.Linear, History, int]:
    """Train the layers above stage6 + a probe head on cached maps, early-stopped on photos held out of the fit.

    Everything it learns from is in the photos it is given: a probe fitted on the fit part starts the head (so
    epoch 0 is a probe), and early stopping watches the stop part. BatchNorm stays frozen (small batches of one's
    own photos). Returns (top, head, history, how many photos early stopping watched).
    """
    fit_idx, stop_idx = stopping_split(labels, cfg.seed)
    head = probe_head(pooled[fit_idx], labels[fit_idx], num_classes)
    seed_everything(cfg.seed)  # here, not only at the start: a warm cache skips loaders that draw random numbers
    top = efficientnet_lite.layers_above(cast(efficientnet_lite.EfficientNetLite, backbone.model), CUT)
    net = nn.Sequential(top, head)
    surgery.freeze_batchnorm(net)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in top.parameters() if p.requires_grad], "lr": 1e-4},
            {"params": head.parameters(), "lr": 1e-3},
        ],
        weight_decay=1e-4,
    )
    per_process = max(1, BATCH // distributed.world_size())  # under torchrun: the same effective batch as one process
    train = DataLoader(TensorDataset(maps[fit_idx], labels[fit_idx]), batch_size=per_process, shuffle=True)
    stop = DataLoader(TensorDataset(maps[stop_idx], labels[stop_idx]), batch_size=128) if len(stop_idx) else None
    history = fit(
        net,
        train,
        stop,
        optimizer=optimizer,
        epochs=cfg.epochs,
        device=cfg.device,
        early_stopping=EarlyStopping(patience=3, monitor="val_loss") if stop is not None else None,
        progress=progress,
    )
    return top.cpu(), head.cpu(), history, len(stop_idx)


def assemble(backbone: models.LoadedBackbone, head: nn.Linear, top: nn.Sequential | None) -> nn.Module:
    """The whole network for the checkpoint: backbone, fine-tuned top layers (if any), new head."""
    model, _, info = backbone
    if top is not None:
        efficientnet_lite.load_layers_above(cast(efficientnet_lite.EfficientNetLite, model), top)
    surgery.replace_head(model, info, head.out_features).load_state_dict(head.state_dict())
    return model.eval()


def cross_validate(backbone: models.LoadedBackbone, feats: dict, num_classes: int, cfg: TrainConfig) -> dict | None:
    """Accuracy of the probe and of fine-tuning on each held-out fold of the training photos (paired folds).

    Stratified k-fold with k = --folds, or fewer when a class has fewer training photos; None when a class has
    only one. The validation photos are not an input: the choice cannot depend on them.
    """
    from sklearn.model_selection import StratifiedKFold

    y = feats["y_train"]
    k = min(cfg.folds, int(torch.bincount(y, minlength=num_classes).min()))
    if k < 2:
        return None
    scores: dict[str, list[float]] = {"probe": [], "fine-tuned": []}
    for fit_idx, held in StratifiedKFold(k, shuffle=True, random_state=cfg.seed).split(np.zeros(len(y)), y.numpy()):
        fit_idx, held = torch.as_tensor(fit_idx), torch.as_tensor(held)
        head = probe_head(feats["f_train"][fit_idx], y[fit_idx], num_classes)
        scores["probe"].append(accuracy(head, None, feats["f_train"][held], y[held]))
        maps, pooled = feats["m_train"][fit_idx], feats["f_train"][fit_idx]
        top, head, *_ = fine_tune_top(backbone, maps, pooled, y[fit_idx], num_classes, cfg, progress=False)
        scores["fine-tuned"].append(accuracy(head, top, feats["m_train"][held], y[held]))
    return summarise_folds(scores, len(y))


def summarise_folds(scores: dict[str, list[float]], photos: int) -> dict:
    """Each candidate's mean and spread over the folds, and the paired difference with its standard error."""
    diff = np.array(scores["fine-tuned"]) - np.array(scores["probe"])
    k = len(diff)
    se = float(diff.std(ddof=1) / np.sqrt(k))
    return {
        "method": f"{k}-fold stratified cross-validation on the {photos} training photos (validation photos unused)",
        "rule": f"keep the fine-tuned top stage only if its mean fold accuracy beats the probe's by more than "
        f"{NOISE_SE:g} standard errors of the paired fold differences (the noise), else the simpler probe",
        "folds": k,
        "candidates": {
            name: {"fold_accuracy": acc, "mean": float(np.mean(acc)), "std": float(np.std(acc, ddof=1))}
            for name, acc in scores.items()
        },
        "difference": {"mean": float(diff.mean()), "standard_error": se, "threshold": NOISE_SE * se},
    }


def choose(cv: dict | None, mode: str, reason_skipped: str = "") -> tuple[str, str]:
    """(what is kept, why): in auto mode, fine-tuning only if cross-validation says it beat the probe beyond noise."""
    if mode == "none":
        return "probe", "fine-tuning not asked for (--fine-tune none)"
    if reason_skipped:
        return "probe", reason_skipped
    if mode == "top":
        return "fine-tuned", "--fine-tune top asked for it (no choice made)"
    if cv is None:
        return "probe", "a class has a single training photo: too few to cross-validate, so the simpler probe is kept"
    c, d = cv["candidates"], cv["difference"]
    scores = (
        f"fine-tuned {c['fine-tuned']['mean']:.1%} vs probe {c['probe']['mean']:.1%} over {cv['folds']} folds; "
        f"difference {100 * d['mean']:+.1f} points, noise threshold {100 * d['threshold']:.1f} "
        f"({NOISE_SE:g} standard errors)"
    )
    if d["mean"] > max(0.0, d["threshold"]):
        return "fine-tuned", f"cross-validation on the training photos: fine-tuning beat the probe ({scores})"
    return "probe", (
        f"cross-validation on the training photos: fine-tuning did not beat the probe by more than the noise "
        f"({scores}), so the simpler probe is kept"
    )


@torch.no_grad()
def val_probabilities(head: nn.Linear, top: nn.Module | None, feats: dict) -> torch.Tensor:
    """Class probabilities of the chosen model on the validation photos, from the cached inputs."""
    pooled = _run_top(top.eval(), feats["m_val"]) if top is not None else feats["f_val"]
    return head.eval()(pooled).softmax(1)


def val_metrics(probs: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict:
    """Overall and per-class validation accuracy, and the confusion matrix (rows true, columns predicted)."""
    pred = probs.argmax(1)
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(labels.tolist(), pred.tolist()):
        matrix[t, p] += 1
    per_class = {c: float(matrix[i, i] / max(1, matrix[i].sum())) for i, c in enumerate(classes)}
    return {
        "val_accuracy": float((pred == labels).float().mean()),
        "per_class_val_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def save_figures(out: Path, probs: torch.Tensor, val: images.ImageFiles, metrics: dict, history) -> list[str]:
    """confusion.png, misclassified.png (photos with their probabilities) and, if fine-tuned, learning_curve.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_confusion, plot_history, show_images

    written = []
    ax = plot_confusion(np.array(metrics["confusion_matrix"]), val.classes, title="Validation confusion matrix")
    written.append(_save(ax.figure, out / "confusion.png"))
    wrong = [i for i, (p, y) in enumerate(zip(probs.argmax(1).tolist(), val.targets)) if p != y][:18]
    if wrong:
        photos = [images.open_rgb(val.samples[i][0], 256) for i in wrong]
        titles = [
            f"true {val.classes[val.targets[i]]}\npred {val.classes[int(probs[i].argmax())]} "
            f"{float(probs[i].max()):.0%}"
            for i in wrong
        ]
        grid = show_images(photos, titles, ncols=min(6, len(wrong)), title="Misclassified validation photos")
        written.append(_save(grid, out / "misclassified.png"))
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


def _save(fig, path: Path) -> str:
    """Write a figure as PNG through a temporary file, so a crash never leaves half an image."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    return path.name


def write_json(obj: dict, path: Path) -> None:
    """JSON written atomically (temporary file, then rename)."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def _choice(backbone, feats: dict, num_classes: int, cfg: TrainConfig, seconds: dict) -> tuple[str, str, dict]:
    """(chosen, why, how): in auto mode by cross-validation on the training photos; the val photos are not passed."""
    skipped = ""
    if cfg.fine_tune != "none" and "m_train" not in feats:
        skipped = f"top-stage fine-tuning on cached maps needs an EfficientNet-Lite backbone, not {cfg.backbone}"
    cv = None
    if cfg.fine_tune == "auto" and not skipped:
        t0 = time.perf_counter()
        train_only = {k: v for k, v in feats.items() if k.endswith("_train")}  # the choice never sees val
        cv = cross_validate(backbone, train_only, num_classes, cfg)
        seconds["cross_validation"] = time.perf_counter() - t0
    chosen, why = choose(cv, cfg.fine_tune, skipped)
    chosen, why, cv = distributed.broadcast_object((chosen, why, cv))  # rank 0's choice, made once, for every rank
    if cv is not None:
        print(f"choice: {cv['method']}")
        for name, c in cv["candidates"].items():
            folds = " ".join(f"{a:.0%}" for a in c["fold_accuracy"])
            print(f"  {name:11} {c['mean']:6.1%} (fold std {100 * c['std']:.1f} points; folds {folds})")
    print(f"chosen: {chosen} ({why})")
    return chosen, why, cv or {"method": f"no choice made: {why}"}


def _heads(backbone, feats: dict, num_classes: int, cfg: TrainConfig, seconds: dict) -> dict:
    """The choice first, then the kept model fitted on all the training photos; returns it and the numbers."""
    chosen, why, choice = _choice(backbone, feats, num_classes, cfg, seconds)
    t0 = time.perf_counter()
    head, probe = fit_probe(feats, num_classes) if distributed.is_main() else (None, None)  # beside the kept model
    seconds["probe"] = time.perf_counter() - t0
    top = history = fine_tune = None
    if chosen == "fine-tuned":
        t0 = time.perf_counter()
        maps, pooled, y = feats["m_train"], feats["f_train"], feats["y_train"]
        top, head, history, stop_photos = fine_tune_top(backbone, maps, pooled, y, num_classes, cfg, cfg.progress)
        seconds["fine_tune"] = time.perf_counter() - t0
        fine_tune = {
            "fit_photos": len(y) - stop_photos,
            "early_stopping_photos": stop_photos,  # training photos held out of the fit; never the val photos
            "best_epoch": history.best_epoch,
            "epochs_run": len(history),
            "stop_reason": history.stop_reason,
            "records": history.records,
        }
        print(f"fine-tuned top stage on all training photos: best epoch {history.best_epoch}, {history.stop_reason}")
    return {
        "head": head,
        "top": top,
        "history": history,
        "chosen": chosen,
        "why": why,
        "choice": choice,
        "probe": probe,
        "fine_tune": fine_tune,
    }


def _write_outputs(cfg: TrainConfig, backbone, train, val, feats, result: dict, report: dict, seconds: dict) -> dict:
    """Model checkpoint (self-describing), metrics.json and figures into --out."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    probs = val_probabilities(result["head"], result["top"], feats)
    metrics = {
        "backbone": cfg.backbone,
        "classes": train.classes,
        "data": report,
        "chosen": result["chosen"],
        "why": result["why"],
        "choice": result["choice"],
        "probe": result["probe"],
        "fine_tune": result["fine_tune"],
        **val_metrics(probs, feats["y_val"], train.classes),
        "reported_on": f"val_accuracy: the kept model on the {len(val)} validation photos, which neither the choice "
        "nor any training (early stopping included) used",
    }
    metrics["figures"] = save_figures(out, probs, val, metrics, result["history"])
    model = assemble(backbone, result["head"], result["top"])
    seconds["total"] = time.perf_counter() - seconds.pop("start")
    metrics["seconds"] = seconds
    summary = {k: metrics[k] for k in ("chosen", "why", "val_accuracy", "per_class_val_accuracy")}
    models.save_model(out / MODEL_FILE, model, backbone.info, train.classes, backbone.transform, meta=summary)
    write_json(metrics, out / "metrics.json")
    return metrics


@contextlib.contextmanager
def _only_rank0_speaks():
    """Under torchrun, ranks other than 0 print and warn nothing: rank 0 says everything once, for all."""
    if distributed.is_main():
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def train_recipe(cfg: TrainConfig) -> dict:
    """Run the whole recipe; returns the metrics written to `--out/metrics.json` (rank 0's; {} on other ranks).

    Launched by torchrun, it joins the process group first (gloo on the CPU, nccl on CUDA) and leaves it at the end.
    """
    device = distributed.setup(cfg.device)
    if distributed.is_initialized():
        cfg = replace(cfg, device=str(device), progress=cfg.progress and distributed.is_main())
    try:
        with _only_rank0_speaks():
            return _run_recipe(cfg)
    finally:
        distributed.teardown()


def _run_recipe(cfg: TrainConfig) -> dict:
    """The recipe's steps in order: data, features, the choice and the kept model, then rank 0's outputs."""
    seconds = {"start": time.perf_counter()}
    check_options(cfg)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    train, val, report = load_data(cfg)
    seconds["check_data"] = time.perf_counter() - t0
    print_data_report(report)
    backbone = models.load_backbone(cfg.backbone)
    t0 = time.perf_counter()
    feats = extract(backbone, train, val, cfg)
    seconds["features"] = time.perf_counter() - t0
    shared = f", shared by {distributed.world_size()} processes" if distributed.is_initialized() else ""
    print(f"features: {len(train) + len(val)} photos in {seconds['features']:.1f} s (cached per photo{shared})")
    result = _heads(backbone, feats, len(train.classes), cfg, seconds)
    if not distributed.is_main():
        return {}
    metrics = _write_outputs(cfg, backbone, train, val, feats, result, report, seconds)
    print(
        f"val accuracy {metrics['val_accuracy']:.1%} ({len(val)} photos neither the choice nor training used); "
        "per class: " + ", ".join(f"{c} {a:.0%}" for c, a in metrics["per_class_val_accuracy"].items())
    )
    print(
        f"wrote {cfg.out}/{MODEL_FILE}, metrics.json, {', '.join(metrics['figures'])} "
        f"in {metrics['seconds']['total']:.0f} s"
    )
    return metrics


def predict_report(model_path: Path, photos: list[Path], k: int = 3) -> list[str]:
    """One line per photo: its top-k classes with probabilities."""
    missing = [str(p) for p in photos if not Path(p).is_file()]
    if missing:
        raise TrainInputError(f"No photo at {', '.join(missing)}. Fix: check the path(s).")
    loaded = models.load_model(model_path)
    results = models.predict_images(loaded, [Path(p) for p in photos], k=k)
    return [f"{p}: " + ", ".join(f"{c} {prob:.1%}" for c, prob in top) for p, top in zip(photos, results)]
