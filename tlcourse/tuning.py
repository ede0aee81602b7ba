"""Tools for choosing hyperparameters: a learning-rate finder and learning-rate schedules traced without training."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from .progress import tqdm
from .runtime import autocast, pick_device, prepare_model, to_device
from .surgery import set_train_mode


@dataclass
class LRFinderResult:
    """The sweep: learning rates tried and the smoothed loss at each; `suggestion` is the LR to use."""

    lrs: list[float]
    losses: list[float]

    @property
    def best_lr(self) -> float:
        """The learning rate at which the smoothed loss was lowest."""
        return self.lrs[min(range(len(self.losses)), key=self.losses.__getitem__)]

    @property
    def suggestion(self) -> float:
        """The lowest-loss LR divided by 10, on the steep, safe side of the valley."""
        return self.best_lr / 10


def exponential_lr(step: int, steps: int, start_lr: float, end_lr: float) -> float:
    """The sweep's learning rate at `step`: start_lr at step 0, end_lr at step steps-1, evenly spaced in log."""
    return start_lr * (end_lr / start_lr) ** (step / max(1, steps - 1))


def warmup_multiplier(step: int, warmup_steps: int, total_steps: int) -> float:
    """The LR multiplier at `step`: 0 -> 1 linearly over warm-up, then linearly to 0 (BERT's fine-tuning schedule)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def warmup_then_decay(warmup_steps: int, total_steps: int):
    """`warmup_multiplier` as the one-argument function torch's LambdaLR expects."""
    return lambda step: warmup_multiplier(step, warmup_steps, total_steps)


def _batches(loader, steps: int):
    """`steps` batches, going round the loader as many times as needed."""
    done = 0
    while done < steps:
        for batch in loader:
            yield batch
            done += 1
            if done == steps:
                return


def lr_find(
    model: nn.Module,
    loader,
    optimizer,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 1.0,
    steps: int = 60,
    loss_fn=None,
    device=None,
    smoothing: float = 0.8,
    diverge: float = 4.0,
    progress: bool = True,
) -> LRFinderResult:
    """Train with a learning rate rising exponentially every batch, and record the loss (Smith 2015, "LR range test").

    Each parameter group keeps its ratio to the largest group's LR, and `lrs` reports that largest LR. The sweep
    stops early once the smoothed loss exceeds `diverge` times its minimum. The suggestion is the LR of the lowest
    smoothed loss divided by 10: still on the steep, safe side of the valley. Model and optimizer are restored.
    """
    device = pick_device(device)
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    largest = max(g["lr"] for g in optimizer.param_groups)
    ratios = [g["lr"] / largest for g in optimizer.param_groups]
    prepare_model(model, device)
    set_train_mode(model)
    lrs, losses, average = [], [], 0.0
    sweep = tqdm(_batches(loader, steps), total=steps, desc="LR finder", leave=False, disable=not progress)
    for step, (x, y) in enumerate(sweep):
        lr = exponential_lr(step, steps, start_lr, end_lr)
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = lr * ratio
        with autocast(device):
            loss = loss_fn(model(to_device(x, device)), to_device(y, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not math.isfinite(loss.item()):
            break
        average = smoothing * average + (1 - smoothing) * loss.item()
        lrs.append(lr)
        losses.append(average / (1 - smoothing ** (step + 1)))  # bias-corrected running mean
        if losses[-1] > diverge * min(losses):
            break
    model.load_state_dict(saved_model)
    optimizer.load_state_dict(saved_optimizer)
    if not lrs:
        raise ValueError(
            f"The loss was not finite at the first step (lr={start_lr:g}): check the data and the model, "
            "or start the sweep lower."
        )
    return LRFinderResult(lrs, losses)


def schedule_trace(make_scheduler, steps: int, lr: float = 1.0) -> list[float]:
    """The learning rate a scheduler sets at each of `steps` batches, traced on a dummy optimizer (no training).

    `make_scheduler(optimizer)` builds the scheduler, exactly as it would be built for training.
    """
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(optimizer)
    trace = []
    for _ in range(steps):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace
