"""Checks for lesson 11: LoRA written by hand (the layer, merging it, what an adapter must keep)."""

from __future__ import annotations

import torch
from torch import nn

from ..lora import LoRALinear
from .feedback import exercise, fail, ok


def _base(in_features: int = 6, out_features: int = 5) -> nn.Linear:
    """A small nn.Linear with fixed random weights and a bias, as a pretrained layer stands in a network."""
    torch.manual_seed(0)
    return nn.Linear(in_features, out_features)


def _inputs(in_features: int = 6) -> torch.Tensor:
    """A batch of 2 sequences of 3 tokens: transformers pass [batch, tokens, features] to their Linear layers."""
    return torch.randn(2, 3, in_features, generator=torch.Generator().manual_seed(1))


def _build(cls, base: nn.Linear, r: int, alpha: float):
    """cls(base, r=r, alpha=alpha), with a hint when the signature differs."""
    try:
        return cls(base, r=r, alpha=alpha)
    except TypeError as err:
        fail(f"LoRALinear(base, r={r}, alpha={alpha}) raised TypeError: {err}", "def __init__(self, base, r, alpha).")


def _check_parameters(layer, base: nn.Linear, r: int) -> None:
    """Only A [r, in] and B [out, r] learn; the pretrained weight and bias stay frozen."""
    A, B = getattr(layer, "A", None), getattr(layer, "B", None)
    if not isinstance(A, nn.Parameter) or not isinstance(B, nn.Parameter):
        fail(
            "The layer has no nn.Parameter attributes A and B.",
            "self.A = nn.Parameter(...); self.B = nn.Parameter(...)",
        )
    if tuple(A.shape) != (r, base.in_features) or tuple(B.shape) != (base.out_features, r):
        fail(
            f"A is {tuple(A.shape)} and B is {tuple(B.shape)}; for a Linear({base.in_features}, {base.out_features}) "
            f"at r={r} expected A {(r, base.in_features)} and B {(base.out_features, r)}.",
            "A maps the input down to r numbers, B maps them up to the output: B @ A has base.weight's shape.",
        )
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        fail("The pretrained weight still learns.", "Freeze the wrapped layer: base.requires_grad_(False).")
    trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    want = r * (base.in_features + base.out_features)
    if trainable != want:
        fail(f"{trainable} trainable numbers, expected r·(in + out) = {want}.", "Only A and B may be trainable.")


@exercise("11")
def check_lora_linear(cls) -> str:
    """cls(base, r=..., alpha=...): a frozen base plus (alpha/r)·B·A, B zero at the start, A random."""
    base, x = _base(), _inputs()
    want_at_start = base(x).detach()
    layer = _build(cls, base, r=2, alpha=4)
    _check_parameters(layer, base, r=2)
    if not torch.allclose(layer(x), want_at_start, atol=1e-6):
        fail(
            "At initialisation the wrapped layer changes the output.",
            "Start B at zero (nn.Parameter(torch.zeros(out, r))): then B·A = 0 and the model starts as pretrained.",
        )
    if torch.count_nonzero(layer.A.detach()) == 0:
        fail(
            "A starts at zero too: then B's gradient is zero as well, and the adapter never learns.",
            "Start A random (e.g. nn.init.kaiming_uniform_(A, a=math.sqrt(5)), as PEFT does) and only B at zero.",
        )
    with torch.no_grad():
        layer.B.copy_(torch.randn(layer.B.shape, generator=torch.Generator().manual_seed(2)))
    got, A, B = layer(x), layer.A.detach(), layer.B.detach()
    want = base(x) + x @ A.T @ B.T * (4 / 2)
    if not torch.allclose(got, want, atol=1e-5):
        unscaled = base(x) + x @ A.T @ B.T
        hint = (
            "Multiply the low-rank path by the scaling alpha / r."
            if torch.allclose(got, unscaled, atol=1e-5)
            else "The scaling is alpha / r (here 4 / 2 = 2), not alpha."
            if torch.allclose(got, base(x) + x @ A.T @ B.T * 4, atol=1e-5)
            else "forward(x) = base(x) + (x @ A.T @ B.T) * (alpha / r), for x of any number of leading dimensions."
        )
        fail("With a trained B, the output is not base(x) + (alpha/r)·x·Aᵀ·Bᵀ.", hint)
    got.sum().backward()
    if base.weight.grad is not None:
        fail("The pretrained weight received a gradient.", "base.requires_grad_(False) before training.")
    return ok("LoRALinear starts equal to the pretrained layer and learns r·(in + out) numbers only.")


@exercise("11")
def check_merge_lora(fn) -> str:
    """fn(layer: a LoRALinear) -> an nn.Linear with weight W + (alpha/r)·B·A and the same bias; layer unchanged."""
    base, x = _base(), _inputs()
    layer = LoRALinear(base, r=3, alpha=6)
    with torch.no_grad():
        layer.B.copy_(torch.randn(layer.B.shape, generator=torch.Generator().manual_seed(3)))
    want = layer(x).detach()
    weight_before = base.weight.detach().clone()
    merged = fn(layer)
    if isinstance(merged, LoRALinear) or type(merged) is not nn.Linear:
        fail(
            f"Got a {type(merged).__name__}, expected a plain nn.Linear.",
            "Build nn.Linear(in, out) and set its weight.",
        )
    if not torch.equal(base.weight.detach(), weight_before):
        fail(
            "Merging changed the LoRA layer's own pretrained weight: the adapter would now count twice in it.",
            "Write W + (alpha/r)·B·A into a new nn.Linear's weight; leave layer.base as it was.",
        )
    if merged.bias is None or not torch.equal(merged.bias.detach(), base.bias.detach()):
        fail("The merged layer lost the pretrained bias.", "Copy layer.base.bias into the new layer's bias.")
    got = merged(x).detach()
    if not torch.allclose(got, want, atol=1e-5):
        hint = (
            "Scale B @ A by alpha / r before adding it to the weight."
            if torch.allclose(got, x @ (base.weight + layer.B @ layer.A).T.detach() + base.bias.detach(), atol=1e-5)
            else "The merged weight is base.weight + (alpha / r) * (B @ A): [out, r] @ [r, in] = [out, in]."
        )
        fail("The merged layer does not compute what the LoRA layer computes.", hint)
    return ok("merging gives one plain nn.Linear with the same outputs: no extra layer, no extra time at inference.")


@exercise("11")
def check_trainable_state(fn) -> str:
    """fn(model) -> {name: tensor} of the parameters that train (requires_grad), and nothing else."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Identity(), nn.ReLU(), nn.Linear(8, 2))
    first = nn.Linear(4, 8)
    model[0] = LoRALinear(first, r=2, alpha=2)
    state = fn(model)
    if not isinstance(state, dict):
        fail(f"Got a {type(state).__name__}, expected a dict of name -> tensor.", "Use model.named_parameters().")
    want = {name for name, p in model.named_parameters() if p.requires_grad}
    if set(state) != want:
        extra, missing = sorted(set(state) - want), sorted(want - set(state))
        fail(
            f"Names {'kept that do not train: ' + str(extra) if extra else 'missing: ' + str(missing)}.",
            "Keep exactly the parameters with p.requires_grad: the frozen ones are in the pretrained file already.",
        )
    params = dict(model.named_parameters())
    for name, tensor in state.items():
        if not torch.is_tensor(tensor) or not torch.equal(tensor, params[name].detach()):
            fail(f"{name} is not the parameter's value.", "Keep p.detach() (or a copy of it) for each name.")
    return ok("the trainable state is the adapter: A and B of each wrapped layer, and the new head.")
