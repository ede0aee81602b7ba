"""Lesson 08's exercise checks accept the solutions and reject typical mistakes with a hint."""

import math

import pytest
import torch
import torch.nn.functional as F

from tlcourse import checks
from tlcourse.checks import ExerciseError


def attention(q, k, v, causal=True, scale=True):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if causal:
        scores = scores.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
    return scores.softmax(-1) @ v


def test_causal_attention_check():
    checks.check_causal_attention(attention)
    with pytest.raises(ExerciseError, match="including later ones"):
        checks.check_causal_attention(lambda q, k, v: attention(q, k, v, causal=False))
    with pytest.raises(ExerciseError, match="not scaled"):
        checks.check_causal_attention(lambda q, k, v: attention(q, k, v, scale=False))


def test_next_token_loss_check():
    checks.check_next_token_loss(
        lambda lg, i: F.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]), i[:, 1:].flatten())
    )
    with pytest.raises(ExerciseError, match="already see"):
        checks.check_next_token_loss(lambda lg, i: F.cross_entropy(lg.reshape(-1, lg.shape[-1]), i.flatten()))
    with pytest.raises(ExerciseError, match="wrong way"):
        checks.check_next_token_loss(
            lambda lg, i: F.cross_entropy(lg[:, 1:].reshape(-1, lg.shape[-1]), i[:, :-1].flatten())
        )


def test_last_token_state_check():
    checks.check_last_token_state(lambda h, i, p: h[torch.arange(len(h)), (i != p).sum(1) - 1])
    with pytest.raises(ExerciseError, match="padding"):
        checks.check_last_token_state(lambda h, i, p: h[:, -1])
