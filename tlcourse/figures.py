"""Figures of whole experiments (lessons 05, 06, 10, 11 and 12): each draws what one lesson measured, from its numbers.

General-purpose plots (images, learning curves, confusion matrices) live in `plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

_LAYER_STYLE = {
    "BnB": ("tab:blue", "o", "-"),
    "BnB+": ("tab:blue", "o", "--"),
    "AnB": ("tab:red", "s", "-"),
    "AnB+": ("tab:red", "s", "--"),
}
_LAYER_JITTER = {"BnB": -0.09, "BnB+": -0.03, "AnB": 0.03, "AnB+": 0.09}


def plot_layer_transfer(depths: Sequence[int], acc: dict[str, np.ndarray], base_b: np.ndarray, title: str):
    """Yosinski et al.'s Fig. 2: accuracy on task B against layers copied, every split as a dot, means as lines."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.axhspan(
        base_b.mean() - base_b.std(),
        base_b.mean() + base_b.std(),
        color="gray",
        alpha=0.2,
        label="baseB ± 1 std across splits",
    )
    ax.axhline(base_b.mean(), color="gray", label="baseB (trained on B from scratch)")
    for name, values in acc.items():
        color, marker, line = _LAYER_STYLE[name]
        x = np.array(depths) + _LAYER_JITTER[name]
        splits = values.shape[0]
        ax.scatter(np.repeat(x, splits), values.T.ravel(), color=color, marker=marker, s=10, alpha=0.35)
        ax.plot(
            x, values.mean(0), marker=marker, linestyle=line, color=color, label=f"{name} (mean of {splits} splits)"
        )
    ax.set_xticks(depths)
    ax.set_xlabel("n: layers copied from a trained network")
    ax.set_ylabel("validation accuracy on task B")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return ax


def plot_lr_finder(finder, grid_accs: dict[float, float], suggested: tuple[float, float], noise: np.ndarray):
    """Left: the finder's smoothed loss as the LR rises. Right: accuracy of each trained LR beside the suggestion."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax1.plot(finder.lrs, finder.losses)
    ax1.axvline(finder.suggestion, color="C2", ls="--", label=f"suggestion {finder.suggestion:.0e}")
    ax1.set(
        xscale="log",
        xlabel="head learning rate (pretrained layers get 1/10)",
        ylabel="training loss (smoothed)",
        title="LR finder: loss while the LR rises",
    )
    ax1.legend()
    ax2.plot(list(grid_accs), list(grid_accs.values()), "o-", label="2 epochs at this LR")
    ax2.plot([suggested[0]], [suggested[1]], "*", color="C2", ms=14, label="finder's suggestion")
    ax2.axhspan(noise.min(), noise.max(), color="grey", alpha=0.2, label="default LR, 3 seeds")
    ax2.set(
        xscale="log",
        xlabel="head learning rate",
        ylabel="validation accuracy",
        title="What each LR gives after 2 epochs",
    )
    ax2.legend()
    fig.tight_layout()
    return ax1, ax2


def plot_schedules(traces: dict[str, list[float]], histories: dict[str, tuple], epochs: int):
    """Left: each schedule's LR per batch. Right: validation loss per epoch under each (name -> (History, acc))."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, trace in traces.items():
        ax1.plot(trace, label=name)
    steps = len(next(iter(traces.values())))
    ax1.set(xlabel="batch", ylabel="head learning rate", title=f"Four schedules over {steps} batches ({epochs} epochs)")
    ax1.legend()
    for name, (history, acc) in histories.items():
        ax2.plot(history["epoch"], history["val_loss"], "o-", label=f"{name}: {acc:.1%}")
    ax2.set(xlabel="epoch", ylabel="validation loss", title="Validation loss under each schedule (peak LR 1e-2)")
    ax2.set_xticks(range(1, epochs + 1))
    ax2.legend()
    fig.tight_layout()
    return ax1, ax2


def plot_early_stopping(history, stops: dict[int, tuple[int, int]]):
    """Training and validation loss of one long run, a dotted line where each patience would stop."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(history["epoch"], history["val_loss"], "o-", label="validation loss")
    ax.plot(history["epoch"], history["train_loss"], "o-", label="training loss")
    for patience, (stop, _) in stops.items():
        ax.axvline(stop, ls=":", color="grey")
        ax.annotate(f"patience {patience}", (stop, ax.get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=8)
    ax.set(
        xlabel="epoch",
        ylabel="loss",
        title=f"{len(history)} epochs at a constant LR; dotted: where early stopping stops",
    )
    ax.legend(loc="center right")
    return ax


def plot_estimate_spread(estimates: dict[str, np.ndarray], seed: int = 0):
    """One row of dots per way of estimating accuracy: how much each estimate moves with the split."""
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    jitter = np.random.default_rng(seed).uniform(-0.2, 0.2, size=(len(estimates), max(map(len, estimates.values()))))
    for row, values in enumerate(estimates.values()):  # jitter spreads the dots so equal values stay visible
        ax.plot(values, row + jitter[row, : len(values)], "o", alpha=0.6)
    ax.set_yticks(range(len(estimates)), list(estimates))
    ax.set_ylim(-0.6, len(estimates) - 0.4)
    ax.set(xlabel="estimated accuracy of the same probe", title="How much the estimate depends on the split")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return ax


def plot_scaling_out(gaps: dict[str, float], val_losses: dict[str, list[float]]):
    """Lesson 10: how far apart final weights are (log scale), and validation loss per epoch of each batch/LR."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.15, 1]})
    names = list(gaps)
    left.barh(range(len(names)), [gaps[n] for n in names], color=["tab:green", "tab:red", "tab:gray"][: len(names)])
    left.set_yticks(range(len(names)), names, fontsize=8)
    left.set_xscale("log")
    left.invert_yaxis()
    for row, name in enumerate(names):
        left.annotate(f"{gaps[name]:.1e}", (gaps[name], row), xytext=(3, 0), textcoords="offset points", va="center")
    left.set(xlabel="largest |difference| of any weight (log scale)", title="Final weights: how far apart?")
    left.set_xlim(min(gaps.values()) / 10, max(gaps.values()) * 30)
    for name, losses in val_losses.items():
        right.plot(range(1, len(losses) + 1), losses, "o-", label=name)
    right.set(xlabel="epoch", ylabel="validation loss", title="A bigger effective batch, and its LR")
    right.set_xticks(range(1, max(map(len, val_losses.values())) + 1))
    right.legend(fontsize=8)
    fig.tight_layout()
    return left, right


def plot_shift_grid(images: dict[str, np.ndarray], columns: int = 5):
    """One photo under every shift: a grid of [H, W, 3] images in [0, 1], titled by the dict's keys."""
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, image) in zip(axes.ravel(), images.items(), strict=False):
        ax.imshow(np.clip(image, 0, 1))
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_id_ood(points: dict[str, np.ndarray], curve: tuple[Sequence[float], np.ndarray], photo: float):
    """In-distribution against out-of-distribution accuracy: one dot per seed and method, the mean as a big dot,
    and the WiSE-FT curve (mean over seeds, one point per mixing weight alpha, labelled).

    `points[method]` is [seeds, 2] (ID, OOD); `curve` is (alphas, [seeds, len(alphas), 2]); `photo` is one val photo.
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    alphas, wise = curve
    mean_curve = wise.mean(0)
    ax.plot(mean_curve[:, 0], mean_curve[:, 1], "-", color="gray", zorder=1, label="WiSE-FT (mean of seeds)")
    for alpha, (x, y) in zip(alphas, mean_curve, strict=True):
        ax.annotate(f"α={alpha:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8, color="gray")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (method, values), color in zip(points.items(), colors, strict=False):
        ax.scatter(values[:, 0], values[:, 1], color=color, alpha=0.4, s=25)
        x, y = values.mean(0)
        ax.scatter(x, y, color=color, s=110, edgecolor="black", label=f"{method} ({len(values)} seeds)", zorder=3)
    x0, y0 = ax.get_xlim()[0], ax.get_ylim()[0]
    ax.plot([x0, x0 + photo], [y0, y0], color="black", lw=3)
    ax.annotate("one val photo", (x0, y0), textcoords="offset points", xytext=(0, 4), fontsize=8)
    ax.set_xlabel("in-distribution accuracy (clean val photos)")
    ax.set_ylabel("out-of-distribution accuracy (mean over shifted sets)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_grouped_bars(values: dict[str, dict[str, float]], ylabel: str, title: str, ax=None):
    """Bars grouped by the outer keys, one colour per inner key, each bar labelled with its value."""
    ax = ax or plt.subplots(figsize=(8, 3.8))[1]
    groups = list(values)
    series = list(next(iter(values.values())))
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        heights = [values[g][name] for g in groups]
        bars = ax.bar(xs, heights, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_confidence_vs_drop(drops: dict[str, tuple[float, float]]):
    """Label-free signal against the truth: drop in mean top-class confidence (x) and in accuracy (y), per set."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, (confidence_drop, accuracy_drop) in drops.items():
        ax.scatter(confidence_drop, accuracy_drop, color="tab:blue")
        ax.annotate(name, (confidence_drop, accuracy_drop), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("drop in mean top-class confidence (no labels needed)")
    ax.set_ylabel("drop in accuracy (needs labels)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_adaptation_costs(methods: Sequence[str], saved_bytes, step_flops, dev_acc, reference: str):
    """Lesson 11: per way of adapting, the bytes kept per task (log scale), one training step's arithmetic relative
    to `reference`, and dev accuracy."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    y = np.arange(len(methods))
    flops = np.asarray(step_flops, float) / step_flops[list(methods).index(reference)]
    panels = [
        (np.asarray(saved_bytes, float) / 1e6, "MB to keep per task (log scale)", True, "{:.3g} MB"),
        (100 * flops, f"arithmetic of one training step, % of '{reference}'", False, "{:.0f} %"),
        (100 * np.asarray(dev_acc), "SST-2 dev accuracy (%)", False, "{:.1f} %"),
    ]
    for ax, (values, label, log, fmt) in zip(axes, panels):
        ax.barh(y, values, color="tab:blue")
        ax.set_yticks(y, methods if ax is axes[0] else [""] * len(methods))
        ax.set_xlabel(label)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        else:
            ax.set_xlim(min(0, values.min()), values.max() * 1.25)
        for i, v in enumerate(values):
            ax.text(v, i, " " + fmt.format(v), va="center", fontsize=8)
    axes[2].set_xlim(max(0, 100 * min(dev_acc) - 15), 100)
    fig.suptitle("What each way of adapting MiniLM costs and gives (one budget)")
    fig.tight_layout()
    return fig


def plot_learned_vs_forgotten(paths: dict[str, list[tuple[float, float]]], kept: dict[str, int]):
    """Lesson 11: for each method, the path of (old-text perplexity, new-text perplexity) after each epoch of
    adapting, from the shared start; the kept (early-stopped) epoch marked. Down is learned, right is forgotten."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    start = next(iter(paths.values()))[0]
    ax.scatter(*start, color="black", marker="*", s=160, zorder=3, label="pretrained (before adapting)")
    for (name, path), color in zip(paths.items(), [f"C{i}" for i in range(len(paths))]):
        old, new = np.array(path).T
        ax.plot(old, new, marker="o", markersize=3, color=color, alpha=0.7)
        ax.scatter(old[kept[name]], new[kept[name]], color=color, s=70, zorder=3, label=f"{name} (kept epoch)")
    ax.set_xlabel("perplexity on SST-2 dev sentences (what it knew; right = forgotten)")
    ax.set_ylabel("perplexity on held-out new text (down = learned)")
    ax.set_yscale("log")
    ax.set_title("Adapting the tiny GPT to Python's docstrings: learned against forgotten")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
