"""Checks for lesson 05: what transfers, layer by layer."""

from __future__ import annotations

import numpy as np
import torch

from .feedback import exercise, fail, ok


@exercise("05")
def check_copy_first_layers(fn, make_net) -> str:
    """fn(target, source, n, freeze) copies layers 0..n-1 of source into target (frozen if asked), nothing more."""
    torch.manual_seed(0)
    source, target = make_net(), make_net()
    untouched = [p.detach().clone() for p in target[2:].parameters()]
    result = fn(target, source, 2, True)
    if result is not target:
        fail("Return the target network.", "End with `return target` (the notebook's cell already does).")
    for i in range(2):
        for (name, p), q in zip(target[i].named_parameters(), source[i].parameters()):
            if not torch.equal(p, q):
                fail(f"Layer {i} ({name}) was not copied.", "target[i].load_state_dict(source[i].state_dict()).")
            if p is q:
                fail(f"Layer {i} is shared with the source, not copied.", "Copy weights with load_state_dict.")
            if p.requires_grad:
                fail(f"Layer {i} still learns although freeze=True.", "Set requires_grad = False on its parameters.")
    if any(not torch.equal(p, q) for p, q in zip(target[2:].parameters(), untouched)):
        fail("Layers above n changed.", "Copy only range(n): the layers above keep their fresh weights.")
    if any(not p.requires_grad for p in target[2:].parameters()):
        fail("Layers above n were frozen.", "Freeze only the copied layers.")
    open_copy = fn(make_net(), source, 2, False)
    if any(not p.requires_grad for p in open_copy.parameters()):
        fail(
            "With freeze=False the copied layers must stay trainable (the '+' conditions fine-tune them).",
            "Set requires_grad = not freeze.",
        )
    return ok("first n layers copied (frozen for BnB/AnB, trainable for BnB+/AnB+), the rest fresh.")


@exercise("05")
def check_split_effects(fn) -> str:
    """fn(base, bnb, anb) -> (base - bnb, bnb - anb) elementwise: co-adaptation and specificity."""
    co, spec = fn(0.9, [0.9, 0.85, 0.88], [0.89, 0.8, 0.6])
    co, spec = np.asarray(co, dtype=float), np.asarray(spec, dtype=float)
    if np.allclose(co, [0.0, 0.05, 0.02]) and np.allclose(spec, [0.01, 0.05, 0.28]):
        return ok("co-adaptation = baseB - BnB, specificity = BnB - AnB.")
    if np.allclose(co, [-0.0, -0.05, -0.02]) or np.allclose(spec, [-0.01, -0.05, -0.28]):
        fail(
            "A sign is flipped: both effects are losses, positive when transfer hurts.",
            "co-adaptation = base - bnb; specificity = bnb - anb.",
        )
    fail(
        f"Got co-adaptation {co.tolist()} and specificity {spec.tolist()}.",
        "Co-adaptation compares baseB with BnB (same task); specificity compares BnB with AnB (other task).",
    )
