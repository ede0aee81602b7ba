"""Lesson 10's exercise checks accept the solutions and reject typical mistakes with a hint.

check_average_gradients forks 2 processes joined by gloo on loopback: each call here takes about a second.
"""

import math

import pytest
import torch.distributed as dist

from tlcourse import checks
from tlcourse.checks import ExerciseError


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


def test_shard_check():
    checks.check_shard_indices(shard_ok)
    with pytest.raises(ExerciseError, match="interleaves"):
        checks.check_shard_indices(lambda n, r, w: list(range(n))[r * math.ceil(n / w) : (r + 1) * math.ceil(n / w)])
    with pytest.raises(ExerciseError, match="as many examples"):
        checks.check_shard_indices(lambda n, r, w: list(range(r, n, w)))


def test_average_gradients_check_runs_two_ranks():
    checks.check_average_gradients(average_ok)
    with pytest.raises(ExerciseError, match="divide by dist.get_world_size"):
        checks.check_average_gradients(lambda m: [dist.all_reduce(p.grad) for p in m.parameters()])
    with pytest.raises(ExerciseError, match="unchanged"):
        checks.check_average_gradients(lambda m: None)
    with pytest.raises(ExerciseError, match="ZeroDivisionError"):
        checks.check_average_gradients(lambda m: 1 / 0)


def test_average_gradients_check_names_a_rank_left_waiting_and_a_stub():
    def only_rank_0(model):
        if dist.get_rank() == 0:
            dist.all_reduce(next(model.parameters()).grad)

    with pytest.raises(ExerciseError, match="same order"):
        checks.check_average_gradients(only_rank_0)

    def stub(model):
        raise NotImplementedError("write average_gradients")

    with pytest.raises(NotImplementedError):
        checks.check_average_gradients(stub)


def test_scaled_lr_check():
    checks.check_scaled_lr(lambda lr, base, b, n: lr * b * n / base)
    with pytest.raises(ExerciseError, match="effective batch"):
        checks.check_scaled_lr(lambda lr, base, b, n: lr * b / base)
    with pytest.raises(ExerciseError, match="sqrt"):
        checks.check_scaled_lr(lambda lr, base, b, n: lr * math.sqrt(b * n / base))
