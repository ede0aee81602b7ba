"""The LR finder sweeps, stops when the loss explodes, and leaves model and optimizer as they were."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import tuning


def blobs(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    return TensorDataset(torch.randn(n, 4, generator=g) + 2 * y[:, None].float(), y)


def test_exponential_lr_spans_start_to_end_geometrically():
    lrs = [tuning.exponential_lr(s, 5, 1e-4, 1.0) for s in range(5)]
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_lr_find_restores_state_and_suggests_a_sane_lr():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.01}, {"params": model[2].parameters(), "lr": 0.1}], momentum=0.9
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = tuning.lr_find(
        model,
        DataLoader(blobs(), batch_size=16, shuffle=True),
        optimizer,
        start_lr=1e-5,
        end_lr=100.0,
        steps=80,
        device="cpu",
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.1] and not optimizer.state
    assert result.lrs == sorted(result.lrs) and len(result.lrs) < 80  # it stopped once the loss blew up
    assert result.suggestion == pytest.approx(result.best_lr / 10) and 1e-4 < result.suggestion < 10


def test_lr_find_with_a_broken_model_is_a_clear_error():
    model = nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="not finite at the first step"):
        tuning.lr_find(
            model,
            DataLoader(blobs(), batch_size=16),
            torch.optim.SGD(model.parameters(), lr=1.0),
            steps=5,
            device="cpu",
        )


def test_schedule_trace_follows_the_scheduler_without_training():
    trace = tuning.schedule_trace(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1), 5, lr=1.0)
    assert trace == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_warmup_then_decay_wraps_warmup_multiplier_for_lambdalr():
    f = tuning.warmup_then_decay(10, 100)
    assert [f(s) for s in (0, 5, 10, 55, 100, 120)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    assert all(f(s) == tuning.warmup_multiplier(s, 10, 100) for s in range(0, 130, 7))
