"""Checks for lesson 12: distribution shift (a seeded corruption, mixing two sets of weights, AdaBN)."""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn

from ..shift import batchnorm_layers, gaussian_noise, interpolate_weights, reestimate_batchnorm
from .feedback import exercise, fail, ok


def _photo() -> torch.Tensor:
    """A 3x16x16 'photo' in [0, 1] with pixels near both ends, so clipping matters."""
    g = torch.Generator().manual_seed(12)
    return torch.rand(3, 16, 16, generator=g)


@exercise("12")
def check_gaussian_noise(fn) -> str:
    """fn(image, sigma, generator) -> image + sigma * N(0, 1) noise drawn from generator, clipped to [0, 1]."""
    image = _photo()
    before = image.clone()
    got = fn(image, 0.2, torch.Generator().manual_seed(0))
    if not torch.equal(image, before):
        fail("The input image was changed in place.", "Return a new tensor: image + noise, not image += noise.")
    if tuple(got.shape) != tuple(image.shape):
        fail(f"Shape {tuple(got.shape)}, expected {tuple(image.shape)}.", "Draw one noise value per pixel and channel.")
    again = fn(image, 0.2, torch.Generator().manual_seed(0))
    if not torch.equal(got, again):
        fail(
            "Two calls with generators seeded alike gave different images: the shift is not reproducible.",
            "Draw the noise from the generator you are given: torch.randn(image.shape, generator=generator).",
        )
    if got.min() < 0 or got.max() > 1:
        fail(
            f"Pixels run from {got.min():.2f} to {got.max():.2f}: a photo's pixels stay in [0, 1].",
            "Clip the result: (image + sigma * noise).clamp(0, 1).",
        )
    want = gaussian_noise(image, 0.2, torch.Generator().manual_seed(0))
    if not torch.allclose(got, want, atol=1e-6):
        spread = (got - image).std().item()
        fail(
            f"The noise added has a standard deviation of about {spread:.3f} before clipping effects; with sigma 0.2 "
            f"the right answer's is about {(want - image).std().item():.3f}.",
            "sigma is the standard deviation: multiply torch.randn(...) by sigma (not sigma ** 2, not its root).",
        )
    return ok("gaussian_noise: seeded, one draw per pixel, sigma as the standard deviation, clipped to [0, 1].")


def _two_nets() -> tuple[dict, dict]:
    """Two state dicts of a small net with BatchNorm (float weights and an integer counter)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    start = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    end = net.state_dict()
    end["1.running_mean"] += 1.0
    end["1.num_batches_tracked"] += 7
    return start, end


@exercise("12")
def check_mix_weights(fn) -> str:
    """fn(start, end, alpha) -> state dict (1 - alpha) * start + alpha * end; integer entries taken from end."""
    start, end = _two_nets()
    for alpha in [0.3, 0.0, 1.0]:
        got = fn(start, end, alpha)
        want = interpolate_weights(start, end, alpha)
        if set(got) != set(want):
            fail(f"Keys {sorted(set(got) ^ set(want))} missing or extra.", "Mix every entry of the state dict.")
        for name, w in want.items():
            g = torch.as_tensor(got[name])
            if not w.is_floating_point():
                if not torch.equal(g.to(w.dtype), w):
                    fail(
                        f"{name} (an integer counter) came out as {g.tolist()}, expected {w.tolist()}.",
                        "Only floating-point tensors are mixed; copy the others (num_batches_tracked) from end.",
                    )
                continue
            if torch.allclose(g, w, atol=1e-6):
                continue
            if torch.allclose(g, torch.lerp(end[name], start[name], alpha)):
                fail(
                    f"alpha={alpha} gave {alpha:g} x start + {1 - alpha:g} x end: the weights are swapped.",
                    "alpha is the fine-tuned share: (1 - alpha) * start + alpha * end, so alpha 0 is the start.",
                )
            fail(f"{name} at alpha={alpha} is off by {(g - w).abs().max():.3g}.", "(1 - alpha) * start + alpha * end.")
    return ok("mix_weights walks the straight line from the starting weights (alpha 0) to the fine-tuned ones (1).")


class _Net(nn.Module):
    """Two conv layers with BatchNorm: enough to tell re-estimated statistics from stale or mixed ones."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU()
        )
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean(dim=(2, 3)))


def _stats(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """A BatchNorm layer's running mean and variance (tracked: never None here)."""
    return cast(torch.Tensor, layer.running_mean), cast(torch.Tensor, layer.running_var)


def _shifted_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches far from the statistics the net was trained on (mean 3, std 2), with labels the check never needs."""
    g = torch.Generator().manual_seed(1)
    return [(3 + 2 * torch.randn(8, 3, 6, 6, generator=g), torch.zeros(8, dtype=torch.long)) for _ in range(3)]


@exercise("12")
def check_reestimate_bn(fn) -> str:
    """fn(model, loader) resets and re-estimates every BatchNorm's running statistics on the loader; eval mode after."""
    model, batches = _Net(), _shifted_batches()
    with torch.no_grad():  # statistics of the photos the net was 'trained' on: not those of the new batches
        for layer in batchnorm_layers(model):
            mean, var = _stats(layer)
            mean.fill_(0.5)
            var.fill_(0.25)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    reference = reestimate_batchnorm(copy.deepcopy(model), batches)
    result = fn(model, batches)
    if result is not None and result is not model:
        fail("fn returned another model.", "Change the model in place (and return it, or nothing).")
    if model.training or any(m.training for m in model.modules()):
        fail(
            "The model was left in training mode: BatchNorm would go on using each batch's own statistics.",
            "Finish with model.eval() so the new running statistics are used.",
        )
    for name, w in weights.items():
        if not torch.equal(model.state_dict()[name], w):
            fail(
                f"{name} changed: re-estimation must not train.", "Forward passes under torch.no_grad(), no optimiser."
            )
    for i, (got_layer, want_layer) in enumerate(zip(batchnorm_layers(model), batchnorm_layers(reference), strict=True)):
        (got_mean, got_var), (want_mean, want_var) = _stats(got_layer), _stats(want_layer)
        if torch.allclose(got_mean, torch.full_like(got_mean, 0.5)):
            fail(
                f"BatchNorm layer {i} still holds the old statistics.",
                "Put the BatchNorm layers in training mode (m.train()) and run the batches through the model.",
            )
        if not torch.allclose(got_mean, want_mean, atol=1e-4) or not torch.allclose(
            got_var, want_var, rtol=1e-3, atol=1e-4
        ):
            fail(
                f"BatchNorm layer {i}'s running mean is {got_mean[:2].tolist()}..., expected "
                f"{want_mean[:2].tolist()}...: the old statistics were mixed in, or the batches weighed "
                "unequally.",
                "First m.reset_running_stats() and set m.momentum = None (an equal-weight average of all batches).",
            )
    return ok("reestimate_bn: fresh statistics from the new photos alone, no weight changed, eval mode after.")
