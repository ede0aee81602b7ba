"""Figures the lessons draw: each titled, with labelled axes, readable at notebook width."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from . import train
from .train import History


def to_image(x: torch.Tensor, mean=(0.5,) * 3, std=(0.5,) * 3) -> np.ndarray:
    """Undo normalisation of a CxHxW tensor and return an HxWxC array in [0, 1] for imshow."""
    x = x.detach().cpu().float() * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def show_images(
    images: Sequence, titles: Sequence[str] | None = None, ncols: int = 6, title: str | None = None, size: float = 2.0
):
    """A grid of images (PIL images or HxWxC arrays) with optional per-image titles."""
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images)):
        ax.imshow(img, cmap="gray" if np.ndim(img) == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history, axes=None, label: str = ""):
    """Loss and accuracy per epoch, train and validation, side by side."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = history["epoch"]
    for ax, metric in zip(axes, ("loss", "acc")):
        ax.plot(epochs, history[f"train_{metric}"], "o-", label=f"{label} train".strip())
        if any(v is not None for v in history[f"val_{metric}"]):
            ax.plot(epochs, history[f"val_{metric}"], "s-", label=f"{label} validation".strip())
        ax.set_xlabel("epoch")
        if len(epochs) == 1:
            ax.set_xticks(epochs)  # a single epoch: one tick, not a fractional range around it
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel("cross-entropy loss" if metric == "loss" else "accuracy")
        ax.set_title("Loss" if metric == "loss" else "Accuracy")
        ax.legend()
        ax.grid(alpha=0.3)
    return axes


def plot_topk(probs: torch.Tensor, categories: Sequence[str], k: int = 5, ax=None, title: str = ""):
    """A horizontal bar chart of the k most probable classes."""
    ax = ax or plt.subplots(figsize=(4, 2.5))[1]
    p, idx = probs.topk(k)
    names = [categories[i] for i in idx.tolist()]
    ax.barh(range(k)[::-1], p.numpy(), color="tab:blue")
    ax.set_yticks(range(k)[::-1], names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.set_title(title, fontsize=9)
    return ax


def plot_filters(weight: torch.Tensor, ncols: int = 8, title: str = "First-layer filters"):
    """Each 3xkxk filter of a first convolution shown as a small colour image (scaled to [0, 1])."""
    w = weight.detach().cpu()
    w = (w - w.amin(dim=(1, 2, 3), keepdim=True)) / (
        w.amax(dim=(1, 2, 3), keepdim=True) - w.amin(dim=(1, 2, 3), keepdim=True) + 1e-8
    )
    nrows = int(np.ceil(len(w) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9, nrows * 0.9 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, f in zip(axes.flat, w):
        ax.imshow(f.permute(1, 2, 0).numpy(), interpolation="nearest")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix: np.ndarray, classes: Sequence[str], ax=None, title: str = "Confusion matrix"):
    """A confusion matrix with counts written in each cell (rows: true class, columns: predicted)."""
    ax = ax or plt.subplots(figsize=(3.6, 3.2))[1]
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return ax


def plot_embedding(points: np.ndarray, labels: Sequence[int], classes: Sequence[str], ax=None, title: str = ""):
    """A 2-D scatter of projected features, one colour per class."""
    ax = ax or plt.subplots(figsize=(4.5, 4))[1]
    label_array = np.asarray(labels)
    for c, name in enumerate(classes):
        ax.scatter(*points[label_array == c].T, s=14, alpha=0.7, label=name)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_curves(
    x: Sequence,
    curves: dict[str, tuple[Sequence, Sequence]],
    ax=None,
    xlabel: str = "",
    ylabel: str = "accuracy",
    title: str = "",
    logx: bool = False,
    xticklabels: Sequence[str] | None = None,
):
    """Several mean ± spread curves on one axis: {label: (means, spreads)}; `xticklabels` renames the x ticks."""
    ax = ax or plt.subplots(figsize=(5.5, 3.6))[1]
    for label, (means, spreads) in curves.items():
        mean, spread = np.asarray(means), np.asarray(spreads)
        ax.plot(x, mean, "o-", label=label)
        ax.fill_between(x, mean - spread, mean + spread, alpha=0.2)
    if logx:
        ax.set_xscale("log")
    if logx or xticklabels is not None:
        ax.set_xticks(list(x), list(xticklabels) if xticklabels is not None else [str(v) for v in x])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_similarity(matrix: np.ndarray, labels: Sequence[str], ax=None, title: str = "Cosine similarity"):
    """A square similarity heat map with the value written in each cell and the items named on both axes."""
    ax = ax or plt.subplots(figsize=(7, 5.5))[1]
    image = ax.imshow(matrix, cmap="viridis", vmin=min(0.0, float(np.min(matrix))), vmax=1.0)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="black" if v > 0.6 else "white")
    ax.set_xticks(range(len(labels)), [str(i + 1) for i in range(len(labels))])
    ax.set_yticks(range(len(labels)), [f"{i + 1}. {s}" for i, s in enumerate(labels)], fontsize=8)
    ax.set_xlabel("sentence number")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    return ax


class LiveCurves:
    """Learning curves redrawn in place in a notebook after every epoch."""

    def __init__(self):
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.fig, self.axes = plt.subplots(1, 2, figsize=(9, 3.2))
        plt.close(self.fig)
        self.handle = display(self.fig, display_id=True)

    def update(self, history: History) -> None:
        for ax in self.axes:
            ax.clear()
        plot_history(history, axes=self.axes)
        self.fig.tight_layout()
        if self.handle is not None:
            self.handle.update(self.fig)


def live_curves() -> Callable[[History], None]:
    """A new LiveCurves display, as the function `fit` calls after each epoch: `fit(..., live_plot=live_curves())`."""
    return LiveCurves().update


train.live_display = live_curves  # what fit(live_plot=True) draws: training itself never imports plotting
