"""The peer recipes of `bench.py side-by-side` (benchmarks/recipes.py): their schedules, groups and one tiny step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
recipes = pytest.importorskip("recipes")

from tlcourse.efficientnet_lite import EfficientNetLite0  # noqa: E402


def lrs_over(opt: torch.optim.Optimizer, sched, steps: int) -> list[list[float]]:
    """Each group's learning rate before each of `steps` scheduler steps."""
    seen = []
    for _ in range(steps):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return seen


def test_tutorial_step_lr_divides_by_ten_every_seven_epochs():
    opt, sched = recipes.tutorial_optimizer([nn.Parameter(torch.zeros(1))])
    lrs = [lr[0] for lr in lrs_over(opt, sched, 25)]
    assert opt.param_groups[0]["momentum"] == 0.9
    assert lrs[0] == pytest.approx(1e-3) and lrs[6] == pytest.approx(1e-3)
    assert lrs[7] == pytest.approx(1e-4) and lrs[14] == pytest.approx(1e-5) and lrs[21] == pytest.approx(1e-6)


def test_fastai_discriminative_lrs_and_one_cycle():
    assert recipes.fastai_lrs(2e-3, None) == pytest.approx((2e-4, 2e-3))  # frozen epoch: slice(base_lr)
    assert recipes.fastai_lrs(1e-3, 100) == pytest.approx((1e-5, 1e-3))  # after base_lr /= 2: slice(lr/100, lr)
    model = recipes.FastaiModel(EfficientNetLite0(), 2)
    opt = recipes.fastai_optimizer(model, (1e-5, 1e-3))
    assert opt.param_groups[0]["weight_decay"] == 0.01 and opt.param_groups[0]["betas"][1] == 0.99
    sched = recipes.one_cycle(opt, steps=100, pct_start=0.3, div=5.0)
    lrs = lrs_over(opt, sched, 100)
    assert lrs[0] == pytest.approx([1e-5 / 5, 1e-3 / 5])  # starts at lr / div
    assert max(lr[1] for lr in lrs) == pytest.approx(1e-3, rel=1e-3)  # peaks at lr (around 30 % of the steps)
    assert max(range(100), key=lambda i: lrs[i][1]) in (29, 30)
    assert lrs[-1][1] < 1e-3 / 1e4  # anneals to about lr / 1e5


def test_fastai_freeze_keeps_batchnorm_trainable():
    model = recipes.FastaiModel(EfficientNetLite0(), 2)
    recipes.freeze_body(model, True)
    trainable = {n for n, p in model.base.named_parameters() if p.requires_grad}
    bn = {n for n, m in model.base.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert trainable and all(n.rsplit(".", 1)[0] in bn for n in trainable)
    recipes.freeze_body(model, False)
    assert all(p.requires_grad for p in model.parameters())


def test_keras_fine_tuning_keeps_batchnorm_in_inference_mode():
    torch.manual_seed(0)
    model = recipes.KerasHead(EfficientNetLite0(), 2)
    before = model.base.stem.bn.running_mean.clone()
    x, y = torch.randn(8, 3, 64, 64), torch.randint(0, 2, (8,))
    batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    recipes.train_epochs(model, batches, opt, epochs=1, mode=recipes.base_in_inference_mode)
    assert torch.equal(model.base.stem.bn.running_mean, before)  # training=False: statistics untouched
    assert model.dropout.training  # the head's dropout trains
