"""A short, readable training loop. Read it top to bottom: `fit` runs the epochs; each epoch is `train_one_epoch`
(forward, loss, backward, step, for every batch) then `evaluate` on the validation batches; `History` keeps one
record per epoch and `EarlyStopping` keeps the best weights.

Where the arithmetic runs (device, precision, seeds) lives in `runtime`; files (checkpoints) in `storage`. What
several processes under torchrun change is in one place, `Ranks` and `_distribute` below (the helpers themselves
are in `distributed`): the model is wrapped in DDP, each rank reads its share of the loaders, and the sums and stop
decisions are taken over all ranks. In one process every one of them does nothing.

Mixed precision follows PyTorch's recipe: forward under `runtime.autocast`, and a `torch.amp.GradScaler` that is
always there, enabled only for fp16 (CUDA without bf16); disabled, its scale/unscale/step/update are plain calls.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed
from .errors import CheckpointError, NonFiniteLossError
from .progress import tqdm
from .runtime import autocast, grad_scaler, pick_device, prepare_model, to_device
from .storage import load_checkpoint, save_checkpoint
from .surgery import set_train_mode

EpochHook = Callable[["History"], None]  # called with the History after every epoch (e.g. a live plot)

# What `fit(live_plot=True)` draws: `tlcourse.plots` puts its LiveCurves here when it is imported, so training
# does not depend on plotting. A caller may pass its own display instead: `fit(..., live_plot=some_function)`.
live_display: Callable[[], EpochHook] | None = None


def fit(
    model: nn.Module,
    train_loader,
    val_loader=None,
    *,
    optimizer,
    epochs: int | None = None,
    steps: int | None = None,
    scheduler=None,
    batch_scheduler=None,
    loss_fn=None,
    device=None,
    early_stopping: EarlyStopping | None = None,
    checkpoint=None,
    resume: bool = False,
    clip_grad_norm: float | None = None,
    time_budget: float | None = None,
    live_plot: bool | EpochHook = False,
    progress: bool = True,
) -> History:
    """Train `model` for `epochs` passes over `train_loader`, or for `steps` batches; returns a History.

    Args:
        model: the network to train, in place.
        train_loader: its (x, y) training batches.
        val_loader: batches measured after every epoch; without it the best epoch is the lowest training loss.
        optimizer: steps once a batch.
        epochs: passes over `train_loader`. Give `epochs` or `steps`.
        steps: optimizer steps in all, whatever the loader's length: the last epoch stops part-way, and
            validation, the epoch scheduler and the checkpoint follow it as after any epoch.
        scheduler: steps once an epoch (e.g. CosineAnnealingLR).
        batch_scheduler: steps once a batch (e.g. OneCycleLR, or a warm-up).
        loss_fn: the loss; `nn.CrossEntropyLoss()` if not given.
        device: where to train; the best one present if not given (`runtime.pick_device`).
        early_stopping: keeps the best epoch's weights and restores them at the end (without it, nothing is copied).
        checkpoint: a file written after every epoch.
        resume: continue from `checkpoint` (without it, an existing checkpoint is never overwritten).
        clip_grad_norm: scale the gradients down to this total norm before each step.
        time_budget: seconds; training stops at the end of the batch that uses them up.
        live_plot: True redraws the learning curves in the notebook after every epoch (`plots.LiveCurves`); or a
            function called with the History after every epoch.
        progress: False hides the progress bars (for many small runs).

    A NaN or infinite loss stops training with a message (restoring the best weights when early stopping is on).
    Under torchrun the same History comes back on every rank, and only rank 0 prints, draws and writes the checkpoint.
    """
    device = distributed.rank_device(pick_device(device))
    net = model  # what runs the batches: the model, or (under torchrun) its DistributedDataParallel wrapper
    model = prepare_model(distributed.unwrap(net), device)  # the module itself: checkpoints, early stopping
    history, first = _start_from_checkpoint(checkpoint, resume, model, optimizer, scheduler)
    net, train_loader, val_loader = _distribute(net, train_loader, val_loader, device)  # DDP copies rank 0's weights
    progress = progress and distributed.is_main()
    show = _epoch_hook(live_plot) if distributed.is_main() else None
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    scaler = grad_scaler(device)  # always present; enabled only for fp16
    deadline = time.perf_counter() + time_budget if time_budget else None
    epochs = epochs_for(epochs, steps, len(train_loader))
    for epoch in tqdm(range(first, epochs + 1), desc="epochs", initial=first - 1, total=epochs, disable=not progress):
        distributed.set_epoch(train_loader, epoch)
        t0, lrs = time.perf_counter(), learning_rates(optimizer)
        try:
            trained = train_one_epoch(
                net, train_loader, optimizer=optimizer, loss_fn=loss_fn, device=device, scaler=scaler,
                clip_grad_norm=clip_grad_norm, batch_scheduler=batch_scheduler, deadline=deadline,
                max_batches=None if steps is None else steps - (epoch - 1) * len(train_loader),
                desc=f"epoch {epoch}", progress=progress,
            )  # fmt: skip
        except NonFiniteLossError as err:
            _stop_on_non_finite(history, epoch, err, model, early_stopping)
            break
        record = _epoch_record(epoch, lrs, trained, t0, net, val_loader, loss_fn, device, scheduler)
        history.records.append(record)
        stop = early_stopping is not None and early_stopping.step(record, model)
        if show is not None:
            show(history)
        if checkpoint is not None and distributed.is_main():
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch, history)
        if stop or trained.out_of_time:
            history.stop_reason = "early stopping" if stop else f"time budget of {time_budget:.0f}s used"
            break
    _finish(history, early_stopping, model, monitor="val_loss" if val_loader is not None else "train_loss")
    return history


@dataclass
class EpochResult:
    """One pass over the training batches: mean loss, accuracy, and whether the time budget ran out in it."""

    loss: float
    acc: float
    out_of_time: bool = False


def train_one_epoch(
    model: nn.Module,
    loader,
    *,
    optimizer: torch.optim.Optimizer,
    loss_fn,
    device: torch.device,
    scaler: torch.amp.GradScaler,
    clip_grad_norm: float | None = None,
    batch_scheduler=None,
    deadline: float | None = None,
    max_batches: int | None = None,
    desc: str = "train",
    progress: bool = True,
) -> EpochResult:
    """One pass over `loader`: forward, loss, backward, step, for every batch (its first `max_batches`, if given).

    `scaler` scales the loss for fp16 and is a pass-through when disabled. With a sharded loader (one rank's share)
    the sums are added over all ranks, and a non-finite loss or the deadline on any rank stops every rank at once.
    """
    set_train_mode(model)
    ranks = Ranks.of(loader)
    total_loss, correct, seen = 0.0, 0, 0
    whole = max_batches is None or max_batches >= len(loader)  # a whole pass iterates the loader itself
    batches = loader if whole else islice(loader, max_batches)
    for step, (x, y) in enumerate(
        tqdm(batches, desc=desc, leave=False, total=len(loader) if whole else max_batches, disable=not progress)
    ):
        x, y = to_device(x, device), to_device(y, device)
        with autocast(device):
            logits = model(x)
            loss = loss_fn(logits, y)
        ranks.stop_if_non_finite(loss, step)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # the true gradients, for clipping
        if clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()
        hits, count = count_correct(loss_fn, logits, y)
        total_loss, correct, seen = total_loss + loss.item() * count, correct + hits, seen + count
        if deadline is not None and ranks.any(time.perf_counter() > deadline):
            return EpochResult(*ranks.means(total_loss, correct, seen), out_of_time=True)
    return EpochResult(*ranks.means(total_loss, correct, seen))


@dataclass(frozen=True)
class Score:
    """What `evaluate` measured: the mean loss and the accuracy (`train.evaluate(model, loader).acc`)."""

    loss: float
    acc: float


@torch.no_grad()
def evaluate(model, loader, loss_fn=None, device=None) -> Score:
    """Mean loss and accuracy of `model` on `loader`, in eval mode with no gradients (over all ranks if sharded)."""
    device = device or next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model = distributed.unwrap(model)  # no collective per batch: ranks may hold different numbers of batches
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = to_device(x, device), to_device(y, device)
        with autocast(device):
            logits = model(x)
        hits, count = count_correct(loss_fn, logits, y)
        total_loss += loss_fn(logits.float(), y).item() * count
        correct, seen = correct + hits, seen + count
    return Score(*Ranks.of(loader).means(total_loss, correct, seen))


def count_correct(loss_fn, logits: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """(right guesses, guesses) in a batch: the top class against the label, unless the loss says how it counts.

    A loss with its own `count_correct` (e.g. `gpt.NextTokenLoss`, whose guesses are next tokens, not one label per
    example) is asked; averages are weighted by the count, so a next-token loss is averaged per token.
    """
    if hasattr(loss_fn, "count_correct"):
        return loss_fn.count_correct(logits, y)
    return int((logits.argmax(1) == y).sum()), len(y)


@torch.no_grad()
def predict(model, loader_or_batch, device=None) -> torch.Tensor:
    """Class probabilities (softmax) for a loader of (x, y) batches or a single input batch, on the CPU."""
    device = device or next(model.parameters()).device
    model.eval()
    single = torch.is_tensor(loader_or_batch) or isinstance(loader_or_batch, Mapping)
    batches = [(loader_or_batch, None)] if single else loader_or_batch
    probs = []
    for x, *_ in batches:
        with autocast(device):
            probs.append(model(to_device(x, device)).float().softmax(1).cpu())
    return torch.cat(probs)


def _epoch_record(
    epoch: int, lrs: dict, trained: EpochResult, t0: float, net, val_loader, loss_fn, device, scheduler
) -> dict:
    """The epoch's History record: training numbers, validation numbers, learning rates, seconds; steps the
    epoch scheduler."""
    record = {"epoch": epoch, **lrs, "train_loss": trained.loss, "train_acc": trained.acc}
    record["train_seconds"] = time.perf_counter() - t0
    if val_loader is not None:
        val = evaluate(net, val_loader, loss_fn, device)
        record.update(val_loss=val.loss, val_acc=val.acc)
    if scheduler is not None:
        scheduler.step()
    record["seconds"] = time.perf_counter() - t0
    record["train_seconds"], record["seconds"] = Ranks.slowest(record["train_seconds"], record["seconds"])
    return record


def learning_rates(optimizer: torch.optim.Optimizer) -> dict:
    """`lr`: the largest group's learning rate (the new head's, under discriminative LRs); `lrs`: every group's."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    return {"lr": max(lrs), "lrs": lrs} if len(lrs) > 1 else {"lr": lrs[0]}


def epochs_for(epochs: int | None, steps: int | None, batches_per_epoch: int) -> int:
    """The number of epochs `fit` runs: `epochs`, or enough for `steps` batches (the last one maybe partial)."""
    if epochs is not None and steps is None:
        return epochs
    if epochs is not None or steps is None:
        raise ValueError("Give fit either epochs= (passes over the data) or steps= (batches in all), not both.")
    if steps < 1 or batches_per_epoch < 1:
        raise ValueError(f"steps={steps} with {batches_per_epoch} batches an epoch: both must be at least 1.")
    return math.ceil(steps / batches_per_epoch)


def _epoch_hook(live_plot: bool | EpochHook) -> EpochHook | None:
    """What to call after each epoch: the caller's function, or (True) the display `tlcourse.plots` registered."""
    if callable(live_plot):
        return live_plot
    if not live_plot:
        return None
    if live_display is None:
        raise RuntimeError(
            "fit(live_plot=True) draws with tlcourse.plots: import it first (from tlcourse import plots)."
        )
    return live_display()


def _finish(history: History, early_stopping: EarlyStopping | None, model: nn.Module, *, monitor: str) -> None:
    """Name the best epoch, put its weights back (with early stopping), and wait for rank 0's last checkpoint."""
    history.best_epoch = early_stopping.best_epoch if early_stopping else history.best_epoch_of(monitor)
    if early_stopping is not None:
        early_stopping.restore(model)
    distributed.barrier()


@dataclass
class History:
    """Per-epoch records (train/val loss and accuracy, learning rate, seconds) and why training stopped.

    `seconds` is the whole epoch; `train_seconds` leaves out the validation pass (for comparing training budgets).
    """

    records: list[dict] = field(default_factory=list)
    stop_reason: str = "completed"
    best_epoch: int | None = None

    def __getitem__(self, key: str) -> list:
        return [r.get(key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict:
        return self.records[-1]

    @property
    def best_record(self) -> dict:
        """The record of `best_epoch`: what the model scores after early stopping restored its best weights."""
        return next(r for r in self.records if r["epoch"] == self.best_epoch)

    def best_epoch_of(self, monitor: str) -> int | None:
        """The first epoch with the best `monitor` value (lowest loss, highest accuracy), as EarlyStopping counts."""
        scored = [r for r in self.records if r.get(monitor) is not None]
        if not scored:
            return None
        pick = max if "acc" in monitor else min
        return pick(scored, key=lambda r: r[monitor])["epoch"]

    def best(self, key: str = "val_acc") -> float:
        """The best value of a column (max for accuracies, min for losses)."""
        values = [v for v in self[key] if v is not None]
        return max(values) if "acc" in key else min(values)


class EarlyStopping:
    """Stop when `monitor` has not improved for `patience` epochs, and restore the best weights."""

    def __init__(self, patience: int | None = 3, monitor: str = "val_loss", min_delta: float = 0.0):
        self.patience, self.monitor, self.min_delta = patience, monitor, min_delta
        self.mode = "max" if "acc" in monitor else "min"
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def step(self, record: dict, model: nn.Module) -> bool:
        """Remember the model if this epoch is the best so far; True when patience has run out."""
        value = record[self.monitor]
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, record["epoch"], 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights seen back into the model."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def replay_early_stopping(val_losses, patience: int) -> tuple[int, int | None]:
    """(stop epoch, best epoch) EarlyStopping would give on a recorded list of per-epoch validation losses."""
    stopper = EarlyStopping(patience=patience)
    for epoch, loss in enumerate(val_losses, start=1):
        if stopper.step({"epoch": epoch, "val_loss": loss}, nn.Identity()):
            return epoch, stopper.best_epoch
    return len(val_losses), stopper.best_epoch


def _stop_on_non_finite(history: History, epoch: int, err: Exception, model, early_stopping) -> None:
    """Record why training stopped; put back the best weights when early stopping kept them."""
    history.stop_reason = f"non-finite loss in epoch {epoch}: {err}"
    if early_stopping is not None:
        early_stopping.restore(model)
    if not distributed.is_main():
        return
    if early_stopping is not None:
        print(f"Stopped: {history.stop_reason} Best weights (epoch {early_stopping.best_epoch}) restored.")
    else:
        print(
            f"Stopped: {history.stop_reason} The weights are those of the last step and may be non-finite: "
            "pass early_stopping=EarlyStopping(...) to keep and restore the best epoch's weights."
        )


def _start_from_checkpoint(path, resume: bool, model, optimizer, scheduler) -> tuple[History, int]:
    """Resume from `path`, or refuse to overwrite an existing checkpoint of another run."""
    if path is None or not Path(path).exists():
        return History(), 1
    if not resume:
        raise CheckpointError(
            f"{path} already exists. Pass resume=True to continue that run, or choose a new "
            "checkpoint path (the existing file is left as it is)."
        )
    state = load_checkpoint(path, model, optimizer, scheduler)
    if distributed.is_main():
        print(f"Resuming {Path(path).name} after epoch {state['epoch']}.")
    return History(list(state["history"])), state["epoch"] + 1


# Several processes (torchrun): everything the loop does differently lives here.


def _distribute(model: nn.Module, train_loader, val_loader, device: torch.device):
    """(the model to train, train loader, val loader) for this rank: DDP and each rank's share under torchrun
    (validation examples counted once, no padding); the model and loaders unchanged in one process."""
    val_loader = None if val_loader is None else distributed.shard(val_loader, pad=False)
    return distributed.wrap(model, device), distributed.shard(train_loader), val_loader


@dataclass(frozen=True)
class Ranks:
    """What a loop over a sharded loader (one rank's share) must agree on with the other ranks; with an ordinary
    loader, or in one process, each method is the plain single-process answer."""

    sharded: bool

    @classmethod
    def of(cls, loader) -> Ranks:
        """The ranks a loop over `loader` must agree with (none unless it is one rank's share)."""
        return cls(distributed.is_sharded(loader))

    def any(self, flag: bool) -> bool:
        """`flag` here, or on any rank (so every rank takes the same branch)."""
        return bool(distributed.ranks_where(flag)) if self.sharded else flag

    def means(self, total_loss: float, correct: float, seen: float) -> tuple[float, float]:
        """(mean loss, accuracy) from the sums: this process's, or added over the ranks."""
        if self.sharded:
            total_loss, correct, seen = distributed.sum_over_ranks(total_loss, correct, seen)
        return total_loss / seen, correct / seen

    def stop_if_non_finite(self, loss: torch.Tensor, step: int) -> None:
        """Raise NonFiniteLossError when the loss is NaN or infinite (on any rank)."""
        bad = not torch.isfinite(loss)
        ranks = distributed.ranks_where(bad) if self.sharded else ([0] if bad else [])
        if ranks:
            where = f" on rank {', '.join(map(str, ranks))}" if self.sharded else ""
            raise NonFiniteLossError(
                f"loss became {loss.item() if not self.sharded else 'non-finite'}{where} at batch {step}; lower the "
                "learning rate or clip gradients (clip_grad_norm=1.0)."
            )

    @staticmethod
    def slowest(*seconds: float) -> list[float]:
        """The slowest rank's seconds (the same record on every rank); these seconds in one process."""
        return distributed.max_over_ranks(*seconds)
