"""The robustness report of `tlcourse train`: the kept model on shifted copies of validation photos (lesson 12's
shifts), and BatchNorm statistics re-estimated without labels (AdaBN, Li et al. 2016), done right.

AdaBN done right keeps the head and the statistics consistent: the head is fitted on training photos' features made
under the *training photos'* own BatchNorm statistics, and new photos are classified from features made under
*their* own statistics. (A head fitted under ImageNet's statistics, fed features under re-estimated ones, is lesson
12's trap: it can lose accuracy instead.) Both sides use a sample of photos, each in one batch: one forward pass per
photo gives its features under the sample's statistics. `adapt_bn.pt` keeps that head and the training photos'
statistics for `tlcourse predict --adapt-bn`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms as T

from .. import images, models, shift
from ..efficientnet_lite import EfficientNetLite
from ..storage import atomic_save
from ..train import evaluate
from .candidates import KeptLayers, assemble, kept_probabilities, probe_head
from .features import Features

SAMPLE = 48  # photos per side: the validation photos shifted, and each side's AdaBN sample (one batch each)
SHIFTS = [shift.Shift(kind, 2) for kind in ("noise", "blur", "jpeg")]  # lesson 12's costliest at severity 2
MIN_ADAPT_PHOTOS = 16  # fewer photos give BatchNorm statistics too noisy to adapt to
ADAPT_FILE = "adapt_bn.pt"
ADAPT_FORMAT = "tlcourse-adapt-bn/1"


@dataclass
class ShiftScore:
    """The kept model's accuracy on the sampled validation photos under one shift."""

    shift: str  # e.g. "noise-2"
    level: str  # what the severity means, e.g. "sigma of the added noise 0.2"
    accuracy: float


@dataclass
class AdaBNScore:
    """A probe on the same sampled photos without and with AdaBN, and how far apart the two sets' statistics are."""

    train_photos: int
    val_photos: int
    without: float  # probe fitted and evaluated under ImageNet's statistics
    adapted: float  # AdaBN: fitted under the training sample's statistics, evaluated under the validation sample's
    val_distance: float  # `statistics_distance` of the validation sample from the training sample


@dataclass
class Robustness:
    """The kept model on `photos` validation photos: clean, under each shift; and the AdaBN comparison."""

    photos: int
    clean: float
    shifted: list[ShiftScore]
    adabn: AdaBNScore | None  # None when the backbone has no BatchNorm-only feature path (not a Lite backbone)


def robustness_report(
    backbone: models.LoadedBackbone,
    kept: KeptLayers,
    photos_train: images.ImageFiles,
    photos_val: images.ImageFiles,
    feats: Features,
    *,
    out: Path,
    seed: int,
    device: torch.device,
) -> Robustness:
    """Shifted accuracy of the kept model and the AdaBN comparison; writes `adapt_bn.pt` into `out`.

    The backbone is left as it is (the kept model is assembled on a copy).
    """
    copied = backbone._replace(model=copy.deepcopy(backbone.model), info=copy.deepcopy(backbone.info))
    kept_model = assemble(copied, kept.head, kept.top).to(device)
    val_idx = stratified_sample(photos_val.targets, SAMPLE, seed)
    clean = float((kept_probabilities(kept, feats.val)[val_idx].argmax(1) == feats.val.labels[val_idx]).float().mean())
    labels = torch.as_tensor(photos_val.targets)[val_idx]
    pixels, normalise = cropped_pixels(photos_val.subset(val_idx), backbone.transform)  # each photo decoded once
    shifted = [
        ShiftScore(
            s.name,
            f"{shift.KINDS[s.kind][0]} {s.level:g}",
            _accuracy(kept_model, _shifted(pixels, s, normalise), labels, device),
        )
        for s in SHIFTS
    ]
    adabn = None
    if hasattr(backbone.model, "forward_features"):
        train_idx = stratified_sample(photos_train.targets, SAMPLE, seed)
        train_x = normalised(*cropped_pixels(photos_train.subset(train_idx), backbone.transform))
        val_x = normalised(pixels, normalise)
        adabn = _adabn(backbone.model, train_x, val_x, feats, train_idx, val_idx, out=out, device=device)
    return Robustness(photos=len(val_idx), clean=clean, shifted=shifted, adabn=adabn)


def _adabn(model, train_x, val_x, feats: Features, train_idx, val_idx, *, out: Path, device) -> AdaBNScore:
    """Probes on the same samples without and with AdaBN; saves the AdaBN head and the training statistics."""
    num_classes = len(feats.train.labels.unique())  # every class has training photos (the probe checked)
    train_y, val_y = feats.train.labels[train_idx], feats.val.labels[val_idx]
    train_f, train_stats = features_under_own_statistics(model, train_x, device)
    val_f, val_stats = features_under_own_statistics(model, val_x, device)
    head = probe_head(train_f, train_y, num_classes)
    plain = probe_head(feats.train.pooled[train_idx], train_y, num_classes)
    distance = statistics_distance(val_stats, train_stats)
    save_adaptation(out / ADAPT_FILE, head=head, train_stats=train_stats, photos=len(train_x), val_distance=distance)
    return AdaBNScore(
        train_photos=len(train_x),
        val_photos=len(val_x),
        without=_head_accuracy(plain, feats.val.pooled[val_idx], val_y),
        adapted=_head_accuracy(head, val_f, val_y),
        val_distance=distance,
    )


def stratified_sample(targets: list[int], n: int, seed: int) -> list[int]:
    """Up to `n` indices, each class in its share (at least one photo of every class), in dataset order."""
    rng = np.random.default_rng(seed)
    y = np.asarray(targets)
    if len(y) <= n:
        return list(range(len(y)))
    chosen: list[int] = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        take = max(1, round(n * len(members) / len(y)))
        chosen += rng.choice(members, min(take, len(members)), replace=False).tolist()
    return sorted(chosen)


def cropped_pixels(photos: images.ImageFiles, transform: T.Compose) -> tuple[torch.Tensor, T.Compose]:
    """The photos as one [N, 3, H, W] batch in [0, 1] (the eval transform up to ToTensor, each photo decoded once),
    and the rest of the transform (the normalisation)."""
    steps = list(transform.transforms)
    at = next(i for i, step in enumerate(steps) if isinstance(step, T.ToTensor)) + 1
    cropped = photos.with_transform(T.Compose(steps[:at]))
    pixels = torch.stack([cropped[i][0] for i in range(len(cropped))])
    return pixels, T.Compose(steps[at:])


def normalised(pixels: torch.Tensor, normalise: T.Compose) -> torch.Tensor:
    """The batch through the rest of the eval transform."""
    return torch.stack([normalise(x) for x in pixels])


def _shifted(pixels: torch.Tensor, s: shift.Shift, normalise: T.Compose) -> torch.Tensor:
    """The batch shifted, then normalised (as `shift.shifted_transform` does photo by photo)."""
    return torch.stack([normalise(s(x)) for x in pixels])


@torch.no_grad()
def features_under_own_statistics(
    model: nn.Module, x: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Pooled features of the photos `x` with every BatchNorm layer using these photos' own statistics, and those
    statistics (each layer's running mean and variance). A copy of `model` is adapted; `model` is untouched.

    Up to SAMPLE photos run as one batch (one forward pass each); more are re-estimated first, then extracted.
    """
    net = cast(EfficientNetLite, copy.deepcopy(model).to(device))
    if len(x) <= SAMPLE:
        layers = _own_statistics_mode(net)
        features = net.forward_features(x.to(device)).float().cpu()
        for layer in layers:
            layer.eval()
    else:
        shift.reestimate_batchnorm(net, x.split(32), device=device)
        features = torch.cat([net.forward_features(chunk.to(device)).float().cpu() for chunk in x.split(32)])
    stats = {name: buffer.detach().cpu().clone() for name, buffer in net.named_buffers() if "running_" in name}
    return features, stats


def _own_statistics_mode(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer reset and in training mode with a cumulative average: a batch normalises by its own
    statistics and leaves them as the running ones."""
    net.eval()
    layers = shift.batchnorm_layers(net)
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
        layer.train()
    return layers


def statistics_distance(stats: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> float:
    """How far one set's BatchNorm statistics are from another's: for each channel of each layer, the distance
    between the two Gaussians (the 2-Wasserstein distance: sqrt(mean difference^2 + sd difference^2)) in the
    reference's standard deviations, averaged over channels and layers (0: the same statistics).

    Noise and blur change the spread of activations more than their mean, so both count."""
    layers = []
    for name, mean in reference.items():
        if name.endswith("running_mean"):
            variance = name.replace("running_mean", "running_var")
            sd, other_sd = reference[variance].clamp(min=1e-5).sqrt(), stats[variance].clamp(min=1e-5).sqrt()
            layers.append((((stats[name] - mean) ** 2 + (other_sd - sd) ** 2).sqrt() / sd).mean())
    return float(torch.stack(layers).mean())


def save_adaptation(path: Path, *, head: nn.Linear, train_stats: dict, photos: int, val_distance: float) -> Path:
    """`adapt_bn.pt`: the AdaBN head and the training photos' statistics (loadable with weights_only=True)."""
    state = {
        "format": ADAPT_FORMAT,
        "head": {k: v.detach().cpu() for k, v in head.state_dict().items()},
        "train_stats": train_stats,
        "photos": int(photos),
        "val_distance": float(val_distance),
    }
    return atomic_save(state, path)


def robustness_line(report: Robustness) -> str:
    """The report in a line: clean and shifted accuracy, and what AdaBN changed."""
    shifted = ", ".join(f"{s.shift} {s.accuracy:.0%}" for s in report.shifted)
    line = f"robustness on {report.photos} validation photos: clean {report.clean:.0%}, {shifted}"
    a = report.adabn
    if a is not None:
        line += (
            f"; AdaBN (a probe on {a.train_photos} training photos): {a.without:.0%} -> {a.adapted:.0%}, the "
            f"validation photos' BatchNorm statistics {a.val_distance:.2f} training standard deviations away "
            "(adapt only to photos whose statistics are far off: `tlcourse predict --adapt-bn`)"
        )
    return line


def _accuracy(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    """The model's accuracy on a batch of photos."""
    return evaluate(model, DataLoader(TensorDataset(x, labels), batch_size=32), device=device).acc


def _head_accuracy(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> float:
    """A head's accuracy on features."""
    with torch.no_grad():
        return float((head(features).argmax(1) == labels).float().mean())


def plot_robustness(report: Robustness, path: Path) -> str:
    """robustness.png: the kept model's accuracy clean and under each shift; AdaBN's probes beside it."""
    import matplotlib.pyplot as plt

    names = ["clean", *(s.shift for s in report.shifted)]
    values = [report.clean, *(s.accuracy for s in report.shifted)]
    colours = ["tab:blue"] * len(names)
    if report.adabn is not None:
        names += ["probe,\nImageNet stats", "probe,\nAdaBN"]
        values += [report.adabn.without, report.adabn.adapted]
        colours += ["tab:grey", "tab:green"]
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    bars = ax.bar(names, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    title = f"The kept model on {report.photos} validation photos, clean and under lesson 12's shifts"
    if report.adabn is not None:
        ax.axvline(len(report.shifted) + 0.5, color="black", linewidth=0.8)
        title += (
            f"\nright: a probe on {report.adabn.train_photos} training photos, with ImageNet's BatchNorm statistics "
            "and with each set's own (AdaBN)"
        )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return cast(str, path.name)
