"""Lesson 10's exercise checks accept the solutions and reject typical mistakes with a hint.

check_average_gradients forks 2 processes joined by gloo on loopback: each call here takes about a second.
"""

import math

import pytest
import torch.distributed as dist

from tlcourse import checks

from .checking import fails, passes


def shard_ok(n, rank, world_size):
    total = world_size * math.ceil(n / world_size)
    indices = list(range(n))
    while len(indices) < total:
        indices += indices[: total - len(indices)]
    return indices[rank::world_size]


def average_ok(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()


def test_shard_check(capsys):
    passes(capsys, checks.check_shard_indices, shard_ok)
    fails(
        checks.check_shard_indices,
        lambda n, r, w: list(range(n))[r * math.ceil(n / w) : (r + 1) * math.ceil(n / w)],
        match="interleaves",
    )
    fails(checks.check_shard_indices, lambda n, r, w: list(range(r, n, w)), match="as many examples")


def test_average_gradients_check_runs_two_ranks(capsys):
    passes(capsys, checks.check_average_gradients, average_ok)
    fails(
        checks.check_average_gradients,
        lambda m: [dist.all_reduce(p.grad) for p in m.parameters()],
        match="divide by dist.get_world_size",
    )
    fails(checks.check_average_gradients, lambda m: None, match="unchanged")
    fails(checks.check_average_gradients, lambda m: 1 / 0, match="ZeroDivisionError")


def test_average_gradients_check_names_a_rank_left_waiting_and_a_stub():
    def only_rank_0(model):
        if dist.get_rank() == 0:
            dist.all_reduce(next(model.parameters()).grad)

    fails(checks.check_average_gradients, only_rank_0, match="same order")

    def stub(model):
        raise NotImplementedError("write average_gradients")

    with pytest.raises(NotImplementedError):
        checks.check_average_gradients(stub)


def test_scaled_lr_check(capsys):
    passes(capsys, checks.check_scaled_lr, lambda lr, base, b, n: lr * b * n / base)
    fails(checks.check_scaled_lr, lambda lr, base, b, n: lr * b / base, match="effective batch")
    fails(checks.check_scaled_lr, lambda lr, base, b, n: lr * math.sqrt(b * n / base), match="sqrt")
