"""The two models `tlcourse train` can keep: the linear probe on pooled features, and the top stage fine-tuned
on cached stage6 maps with a probe-started head. Both are plain torch layers, so the kept one joins the backbone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .. import distributed, efficientnet_lite, models, surgery
from ..errors import TrainInputError
from ..features import linear_probe, probe_estimator
from ..runtime import seed_everything
from ..train import EarlyStopping, History, fit
from .features import Features, SplitFeatures, layers_above_cut, run_top

BATCH = 32  # photos' maps per fine-tuning step (divided among the processes under torchrun)
STOP_FRACTION = 0.2  # of each class's photos given to fine-tuning, held out from its fit to early-stop on


@dataclass
class ProbeScore:
    """The probe fitted on all the training photos: its accuracy there and on the validation photos."""

    train_acc: float
    val_acc: float
    seconds: float


@dataclass
class FineTuned:
    """The fine-tuned top stage and its head, how training went, and how many photos early stopping watched."""

    top: nn.Sequential
    head: nn.Linear
    history: History
    stop_photos: int


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


def fit_probe(feats: Features, num_classes: int) -> tuple[nn.Linear, ProbeScore]:
    """Logistic regression on all the training photos' pooled features, as a torch head, scored on val after."""
    probe = linear_probe(feats.train.pooled, feats.train.labels, feats.val.pooled, feats.val.labels)
    head = probe_as_linear(probe.model, num_classes)
    return head, ProbeScore(train_acc=probe.train_acc, val_acc=probe.val_acc, seconds=probe.seconds)


def probe_head(pooled: torch.Tensor, labels: torch.Tensor, num_classes: int) -> nn.Linear:
    """The probe fitted on these features alone, as an nn.Linear (no validation data involved)."""
    return probe_as_linear(probe_estimator().fit(np.asarray(pooled), np.asarray(labels)), num_classes)


@torch.no_grad()
def accuracy(head: nn.Linear, top: nn.Module | None, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of photos classified right: pooled features through the head, or cached maps through top + head."""
    pooled = run_top(top.eval(), inputs) if top is not None else inputs
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
    photos: SplitFeatures,
    *,
    num_classes: int,
    epochs: int,
    seed: int,
    device: torch.device,
    progress: bool,
) -> FineTuned:
    """Train the layers above stage6 + a probe head on cached maps, early-stopped on photos held out of the fit.

    Everything it learns from is in the photos it is given: a probe fitted on the fit part starts the head (so
    epoch 0 is a probe), and early stopping watches the stop part. BatchNorm stays frozen (small batches of one's
    own photos).
    """
    assert photos.maps is not None, "fine-tuning the top stage needs the stage6 maps of a Lite backbone"
    fit_idx, stop_idx = stopping_split(photos.labels, seed)
    head = probe_head(photos.pooled[fit_idx], photos.labels[fit_idx], num_classes)
    seed_everything(seed)  # here, not only at the start: a warm cache skips loaders that draw random numbers
    top = layers_above_cut(backbone)
    net = nn.Sequential(top, head)
    surgery.freeze_batchnorm(net)
    maps, labels = photos.maps, photos.labels
    per_process = max(1, BATCH // distributed.world_size())  # under torchrun: the same effective batch as one process
    train = DataLoader(TensorDataset(maps[fit_idx], labels[fit_idx]), batch_size=per_process, shuffle=True)
    stop = DataLoader(TensorDataset(maps[stop_idx], labels[stop_idx]), batch_size=128) if len(stop_idx) else None
    history = fit(
        net,
        train,
        stop,
        optimizer=_optimizer(top, head),
        epochs=epochs,
        device=device,
        early_stopping=EarlyStopping(patience=3, monitor="val_loss") if stop is not None else None,
        progress=progress,
    )
    return FineTuned(top=top.cpu(), head=head.cpu(), history=history, stop_photos=len(stop_idx))


def _optimizer(top: nn.Module, head: nn.Linear) -> torch.optim.AdamW:
    """AdamW with a small learning rate for the pretrained top stage and a ten times larger one for the head."""
    return torch.optim.AdamW(
        [
            {"params": [p for p in top.parameters() if p.requires_grad], "lr": 1e-4},
            {"params": head.parameters(), "lr": 1e-3},
        ],
        weight_decay=1e-4,
    )


@dataclass
class KeptLayers:
    """The layers a kept model adds to the backbone: its head, and the fine-tuned top stage (None for the probe)."""

    head: nn.Linear
    top: nn.Sequential | None


@torch.no_grad()
def kept_probabilities(kept: KeptLayers, photos: SplitFeatures) -> torch.Tensor:
    """Class probabilities of the kept model on a split's photos, from their cached inputs."""
    assert kept.top is None or photos.maps is not None
    pooled = (
        run_top(kept.top.eval(), photos.maps) if kept.top is not None and photos.maps is not None else photos.pooled
    )
    return kept.head.eval()(pooled).softmax(1)


def assemble(backbone: models.LoadedBackbone, head: nn.Linear, top: nn.Sequential | None) -> nn.Module:
    """The whole network for the checkpoint: backbone, fine-tuned top layers (if any), new head."""
    model, _, info = backbone
    if top is not None:
        efficientnet_lite.load_layers_above(cast(efficientnet_lite.EfficientNetLite, model), top)
    surgery.replace_head(model, info, head.out_features).load_state_dict(head.state_dict())
    return model.eval()
