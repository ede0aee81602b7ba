"""Lesson 08's exercise checks accept the solutions and reject typical mistakes with a hint."""

import math

import torch
import torch.nn.functional as F

from tlcourse import checks

from .checking import fails, passes


def attention(q, k, v, causal=True, scale=True):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if causal:
        scores = scores.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
    return scores.softmax(-1) @ v


def test_causal_attention_check(capsys):
    passes(capsys, checks.check_causal_attention, attention)
    fails(checks.check_causal_attention, lambda q, k, v: attention(q, k, v, causal=False), match="including later ones")
    fails(checks.check_causal_attention, lambda q, k, v: attention(q, k, v, scale=False), match="not scaled")


def test_next_token_loss_check(capsys):
    passes(
        capsys,
        checks.check_next_token_loss,
        lambda lg, i: F.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]), i[:, 1:].flatten()),
    )
    fails(
        checks.check_next_token_loss,
        lambda lg, i: F.cross_entropy(lg.reshape(-1, lg.shape[-1]), i.flatten()),
        match="already see",
    )
    fails(
        checks.check_next_token_loss,
        lambda lg, i: F.cross_entropy(lg[:, 1:].reshape(-1, lg.shape[-1]), i[:, :-1].flatten()),
        match="wrong way",
    )


def test_last_token_state_check(capsys):
    passes(capsys, checks.check_last_token_state, lambda h, i, p: h[torch.arange(len(h)), (i != p).sum(1) - 1])
    fails(checks.check_last_token_state, lambda h, i, p: h[:, -1], match="padding")
