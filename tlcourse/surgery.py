"""Network surgery: the moves transfer learning makes on a pretrained network.

Swap the head, freeze and unfreeze stages, freeze BatchNorm, give stages their own learning rates, read an
intermediate layer, count parameters and FLOPs. Backbones themselves are loaded by `models`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .models import BackboneInfo


def get_module(model: nn.Module, path: str) -> nn.Module:
    """The sub-module at a dotted path such as 'classifier.3'."""
    return model.get_submodule(path)


def linear_at(model: nn.Module, path: str) -> nn.Linear:
    """The Linear layer at a dotted path (a backbone's classifier); a clear error if it is another kind of layer."""
    module = get_module(model, path)
    if not isinstance(module, nn.Linear):
        raise TypeError(f"{path} is a {type(module).__name__}, not the Linear classifier expected there")
    return module


def set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    """Replace the sub-module at a dotted path."""
    parent, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def replace_head(model: nn.Module, info: BackboneInfo, num_classes: int) -> nn.Linear:
    """Swap the ImageNet classifier for a fresh Linear layer with `num_classes` outputs; returns the new head."""
    if num_classes < 2:
        raise ValueError(f"A classifier head needs num_classes >= 2, got {num_classes}.")
    head = nn.Linear(linear_at(model, info.classifier).in_features, num_classes)
    set_module(model, info.classifier, head)
    info.categories = []  # the outputs no longer mean ImageNet classes
    return head


def _stage_prefixes(info: BackboneInfo | None, stages) -> list[str]:
    """Module-name prefixes for stage names (or raw module names)."""
    names = [stages] if isinstance(stages, str) else list(stages)
    prefixes = []
    for s in names:
        if info is not None and s in info.stages:
            prefixes += info.stages[s]
        else:
            prefixes.append(s)
    return prefixes


def _matches(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def set_trainable(model: nn.Module, trainable: bool, stages=None, info: BackboneInfo | None = None) -> int:
    """Freeze (trainable=False) or unfreeze parameters, all or those of named stages; returns how many changed."""
    prefixes = _stage_prefixes(info, stages) if stages is not None else None
    unknown = [p for p in (prefixes or []) if not any(_matches(n, [p]) for n, _ in model.named_parameters())]
    if unknown:
        known = ", ".join(info.stages) if info else "module names from model.named_modules()"
        raise ValueError(f"No parameters under {unknown}. Known stages: {known}.")
    changed = 0
    for name, p in model.named_parameters():
        if prefixes is None or _matches(name, prefixes):
            p.requires_grad = trainable
            changed += p.numel()
    return changed


def freeze(model: nn.Module, stages=None, info: BackboneInfo | None = None) -> int:
    """Stop gradient updates for all parameters, or those of the named stages."""
    return set_trainable(model, False, stages, info)


def unfreeze(model: nn.Module, stages=None, info: BackboneInfo | None = None) -> int:
    """Let the named stages (or everything) train again."""
    return set_trainable(model, True, stages, info)


def freeze_batchnorm(model: nn.Module) -> int:
    """Freeze every BatchNorm layer's parameters, so `set_train_mode` keeps them in eval mode (small batches)."""
    frozen = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            for p in module.parameters():
                p.requires_grad = False
                frozen += p.numel()
    return frozen


def unfreeze_last(model: nn.Module, info: BackboneInfo, n_stages: int) -> list[str]:
    """Unfreeze the last `n_stages` stages before the classifier (the classifier is always trainable)."""
    order = [s for s in info.stages if s != "classifier"]
    chosen = order[len(order) - n_stages :] if n_stages > 0 else []
    if chosen:
        unfreeze(model, chosen, info)
    unfreeze(model, "classifier", info)
    return chosen


def forward_flops(model: nn.Module, example: torch.Tensor) -> int:
    """Floating-point operations of one forward pass on `example` (eval mode, no gradients), counted by PyTorch."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(example)
    return counter.get_total_flops()


def training_step_flops(model: nn.Module, x, y: torch.Tensor, loss_fn=None) -> int:
    """Floating-point operations of one training step's forward and backward pass on (x, y), counted by PyTorch.

    Frozen weights get no weight gradient, so freezing saves part of the backward pass; the gradient still flows
    back through every layer below the lowest one that trains. The optimizer's own update is not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with FlopCounterMode(display=False) as counter:
        (loss_fn or nn.CrossEntropyLoss())(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def param_groups(model: nn.Module, lrs: dict[str, float], info: BackboneInfo | None = None) -> list[dict]:
    """Optimizer parameter groups with one learning rate per stage (discriminative learning rates).

    `lrs` maps stage names (or module prefixes) to learning rates; every trainable parameter must be covered once.
    """
    groups: list[dict] = []
    seen: set[int] = set()  # ids of parameters already in a group
    for stage, lr in lrs.items():
        prefixes = _stage_prefixes(info, stage)
        params = [
            p for n, p in model.named_parameters() if p.requires_grad and _matches(n, prefixes) and id(p) not in seen
        ]
        seen.update(id(p) for p in params)
        if params:
            groups.append({"params": params, "lr": lr, "name": stage})
    left = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if left:
        raise ValueError(
            f"Trainable parameters not in any group: {left[:5]}... Add their stage to `lrs` or freeze them."
        )
    return groups


def set_train_mode(model: nn.Module) -> nn.Module:
    """model.train(), except BatchNorm layers whose parameters are frozen stay in eval mode.

    `requires_grad=False` stops gradients but not BatchNorm's running statistics, which train mode keeps
    updating from each small batch: a "frozen" backbone would drift. Frozen BN is frozen entirely here.
    """
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()
    return model


def resolve_layer(model: nn.Module, layer: str, info: BackboneInfo | None = None) -> str:
    """A module name for `layer`, which may be a stage name (its last module) or a module path."""
    if info is not None and layer in info.stages:
        layer = info.stages[layer][-1]
    names = dict(model.named_modules())
    if layer not in names:
        options = list(info.stages) if info is not None else []
        raise ValueError(
            f"No layer {layer!r} in this model. Use a stage name ({', '.join(options)}) "
            "or a module name from model.named_modules()."
        )
    return layer


class _Stop(Exception):
    """Raised by a hook to skip the rest of the forward pass once the wanted layer has run."""


@torch.no_grad()
def layer_output(model: nn.Module, x: torch.Tensor, layer: str, info: BackboneInfo | None = None) -> torch.Tensor:
    """The activation of one layer for input `x` (the forward pass stops there, saving time)."""
    module = model.get_submodule(resolve_layer(model, layer, info))
    captured = {}

    def hook(_module, _inputs, output):
        captured["out"] = output
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["out"]
