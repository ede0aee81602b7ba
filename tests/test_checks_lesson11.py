"""Lesson 11's exercise checks accept the solutions and name typical mistakes (answers written here, not imported)."""

import math

import pytest
import torch
from torch import nn

from tlcourse import checks

from .checking import fails, passes


class Right(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base, self.scaling = base.requires_grad_(False), alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + x @ self.A.T @ self.B.T * self.scaling


def variant(**changes):
    """Right, with one thing done wrong."""

    class Wrong(Right):
        def __init__(self, base, r, alpha):
            super().__init__(base, r, alpha)
            if changes.get("b_random"):
                nn.init.normal_(self.B)
            if changes.get("a_zero"):
                nn.init.zeros_(self.A)
            if changes.get("base_trains"):
                base.requires_grad_(True)
            if changes.get("scale_alpha"):
                self.scaling = alpha

    return Wrong


def test_lora_linear_check(capsys):
    passes(capsys, checks.check_lora_linear, Right)
    for change, match in [
        ("b_random", "changes the output"),
        ("a_zero", "never learns"),
        ("base_trains", "still learns"),
        ("scale_alpha", "not alpha"),
    ]:
        fails(checks.check_lora_linear, variant(**{change: True}), match=match)
    fails(checks.check_lora_linear, lambda base: None, match="TypeError")
    with pytest.raises(NotImplementedError):
        checks.check_lora_linear(lambda base, r, alpha: (_ for _ in ()).throw(NotImplementedError("your turn")))


def merge_right(layer):
    base = layer.base
    merged = nn.Linear(base.in_features, base.out_features)
    with torch.no_grad():
        merged.weight.copy_(base.weight + layer.scaling * layer.B @ layer.A)
        merged.bias.copy_(base.bias)
    return merged


def test_merge_lora_check(capsys):
    passes(capsys, checks.check_merge_lora, merge_right)

    def in_place(layer):
        with torch.no_grad():
            layer.base.weight += layer.scaling * layer.B @ layer.A
        return layer.base

    def unscaled(layer):
        merged = merge_right(layer)
        with torch.no_grad():
            merged.weight.copy_(layer.base.weight + layer.B @ layer.A)
        return merged

    def no_bias(layer):
        merged = nn.Linear(layer.base.in_features, layer.base.out_features, bias=False)
        with torch.no_grad():
            merged.weight.copy_(layer.base.weight + layer.scaling * layer.B @ layer.A)
        return merged

    fails(checks.check_merge_lora, in_place, match="count twice")
    fails(checks.check_merge_lora, unscaled, match="alpha / r")
    fails(checks.check_merge_lora, no_bias, match="bias")
    fails(checks.check_merge_lora, lambda layer: layer, match="plain nn.Linear")


def test_trainable_state_check(capsys):
    passes(
        capsys,
        checks.check_trainable_state,
        lambda m: {n: p.detach() for n, p in m.named_parameters() if p.requires_grad},
    )
    fails(
        checks.check_trainable_state, lambda m: {n: p.detach() for n, p in m.named_parameters()}, match="do not train"
    )
    fails(
        checks.check_trainable_state,
        lambda m: {n: p.detach() for n, p in m.named_parameters() if n.endswith("B")},
        match="missing",
    )
    fails(
        checks.check_trainable_state, lambda m: [p for p in m.parameters() if p.requires_grad], match="expected a dict"
    )
