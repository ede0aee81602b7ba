"""Checks for lesson 03: fine-tuning."""

from __future__ import annotations

import torch
from torch import nn

from ..surgery import get_module
from .feedback import exercise, fail, ok


@exercise("03")
def check_param_groups(fn, make_model) -> str:
    """fn(model, info, head_lr) -> param groups: head at head_lr, trainable backbone params at head_lr / 10."""
    model, info = make_model()
    groups = fn(model, info, 1e-3)
    optimizer = torch.optim.SGD(groups, lr=1.0)
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    head = {id(p) for p in model.get_submodule(info.classifier).parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if trainable - set(lrs):
        fail(
            "Some trainable parameters are in no group, so they would never be updated.",
            "Collect every parameter with requires_grad=True.",
        )
    if set(lrs) - trainable:
        fail("Frozen parameters are in a group.", "Skip parameters with requires_grad=False.")
    if any(abs(lrs[i] - 1e-3) > 1e-12 for i in head):
        fail("The head's learning rate should be head_lr.", "Give the classifier its own group with lr=head_lr.")
    if any(abs(lr - 1e-4) > 1e-12 for i, lr in lrs.items() if i not in head):
        fail(
            "Backbone parameters should learn 10x slower than the head.", "Use lr=head_lr / 10 for the backbone group."
        )
    return ok("discriminative learning rates: the pretrained layers move gently, the new head quickly.")


@exercise("03")
def check_new_head(fn, make_model) -> str:
    """fn(model, num_classes) swaps the classifier (`info.classifier`: `model.classifier`) for a fresh Linear."""
    model, info = make_model()
    old, dim = get_module(model, info.classifier), info.feature_dim
    fn(model, 3)
    new = get_module(model, info.classifier)
    if new is old:
        fail(
            f"model.{info.classifier} is still the ImageNet classifier.",
            f"Assign a new layer: model.{info.classifier} = nn.Linear(...).",
        )
    if not isinstance(new, nn.Linear) or (new.in_features, new.out_features) != (dim, 3):
        fail(
            f"model.{info.classifier} is {new}, expected Linear({dim} -> 3).",
            f"in_features must match the backbone: {dim} (the old layer's in_features).",
        )
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 64))
    if tuple(out.shape) != (1, 3):
        fail(f"The model now outputs {tuple(out.shape)}.", "The new head decides the number of outputs.")
    return ok("new head in place: 3 outputs, fresh weights, the backbone untouched.")
