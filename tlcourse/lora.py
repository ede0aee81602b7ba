"""Low-rank adaptation (LoRA, Hu et al. 2021) as lesson 11 writes it: a frozen `nn.Linear` plus (alpha/r)·B·A.

The lesson's cells do the surgery (which layers get an adapter) and the learner writes the same class as an
exercise; this module keeps the course's copy, what a result costs to keep (bytes of a state, of an optimizer's
state), and an adapter's own file (only the trainable tensors, written atomically, loaded with weights_only=True).
Hugging Face PEFT names the same tensors `lora_A` and `lora_B` (`lora_A.weight` is A, `lora_B.weight` is B).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError
from .storage import atomic_save

ADAPTER_KIND = "tlcourse LoRA adapter: the trainable tensors of a model whose other weights are frozen"


class LoRALinear(nn.Module):
    """y = base(x) + (alpha / r) · x Aᵀ Bᵀ, with `base` frozen, A [r, in] random and B [out, r] zero at the start.

    B = 0 makes the wrapped layer compute exactly what `base` computed; A starts as PEFT's does (Kaiming-uniform,
    a = √5, the default of nn.Linear), so a copy of A and B into PEFT's `lora_A`/`lora_B` gives the same outputs.
    """

    def __init__(self, base: nn.Linear, *, r: int, alpha: float):
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRA rank r={r}: it must be at least 1.")
        self.base, self.r, self.scaling = base.requires_grad_(False), r, alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """The update the adapter adds to the frozen weight: (alpha / r) · B A, shaped like base.weight."""
        return (self.B @ self.A) * self.scaling


def merge(layer: LoRALinear) -> nn.Linear:
    """A plain nn.Linear computing what `layer` computes: W + (alpha / r)·B·A, no extra layer at inference."""
    base = layer.base
    merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
    with torch.no_grad():
        merged.weight.copy_(base.weight + layer.delta_weight())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
    return merged.to(base.weight.device, base.weight.dtype)


def merge_all(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear inside `model` by its merged nn.Linear, in place; returns the model."""
    for name, child in model.named_children():
        if isinstance(child, LoRALinear):
            setattr(model, name, merge(child))
        else:
            merge_all(child)
    return model


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors that training changed (parameters with requires_grad), by name: all an adapter must keep."""
    return {name: p.detach().cpu() for name, p in model.named_parameters() if p.requires_grad}


def tensor_bytes(tensors: Iterable[torch.Tensor] | Mapping[str, torch.Tensor]) -> int:
    """Bytes the tensors' values take (numel × element size), names and file headers aside."""
    values = tensors.values() if isinstance(tensors, Mapping) else tensors
    return sum(t.numel() * t.element_size() for t in values)


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's per-parameter state (Adam keeps two moments per trainable number)."""
    return sum(tensor_bytes(v for v in state.values() if torch.is_tensor(v)) for state in optimizer.state.values())


def save_adapter(path, model: nn.Module) -> Path:
    """The model's trainable tensors in one file, written atomically, that says what it is."""
    return atomic_save({"kind": ADAPTER_KIND, "tensors": trainable_state(model)}, Path(path))


def load_adapter(path, model: nn.Module) -> nn.Module:
    """Put a `save_adapter` file's tensors into a model built the same way (loaded with weights_only=True)."""
    path = Path(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("kind") != ADAPTER_KIND:
        raise CheckpointError(f"{path} is not a LoRA adapter file. Fix: write it with lora.save_adapter(path, model).")
    expected = {name: tuple(p.shape) for name, p in model.named_parameters() if p.requires_grad}
    found = {name: tuple(t.shape) for name, t in state["tensors"].items()}
    if found != expected:
        differ = sorted(set(found.items()) ^ set(expected.items()))[:3]
        raise CheckpointError(
            f"{path} does not fit this model (names or shapes that differ: {differ}). "
            "Fix: wrap the same layers with the same rank as when it was saved."
        )
    model.load_state_dict(state["tensors"], strict=False)
    return model
