"""Distribution shift, made and met: corrupted copies of a photo set, BatchNorm re-estimation, weight interpolation.

Lesson 12 measures what happens when the photos a model meets in use differ from the ones it was trained on.
`Shift` corrupts one photo the way ImageNet-C does (noise, blur, JPEG, contrast, colour) at a stated severity,
deterministically; `shifted_transform` slips it into a backbone's eval transform, so `features.extract_features`
caches the shifted photos' features like any others. `reestimate_batchnorm` recomputes every BatchNorm layer's
statistics on new photos (AdaBN), and `interpolate_weights` mixes two state dicts (WiSE-FT).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torchvision import transforms as T


def gaussian_noise(image: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Add N(0, sigma^2) noise to every pixel of a [0, 1] image, drawn from `generator`, and clip back to [0, 1]."""
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype)
    return (image + sigma * noise).clamp(0.0, 1.0)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur with a Gaussian of standard deviation `sigma` pixels (kernel of 2 * ceil(3 sigma) + 1 pixels)."""
    size = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(image, kernel_size=[size, size], sigma=[sigma, sigma])


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Save as a JPEG of `quality` (1-100) and read it back: the blocks and smears of strong compression."""
    buffer = io.BytesIO()
    TF.to_pil_image(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return TF.to_tensor(Image.open(buffer).convert("RGB"))


def contrast(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Pull every pixel towards the image's mean grey: factor 1 keeps the photo, 0 leaves a flat grey."""
    return TF.adjust_contrast(image, factor)


def saturation(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Wash the colours out: factor 1 keeps them, 0 is greyscale."""
    return TF.adjust_saturation(image, factor)


KINDS: dict[str, tuple[str, tuple[float, ...]]] = {  # kind -> (what the number means, its value per severity 1, 2)
    "noise": ("sigma of the added noise", (0.08, 0.2)),
    "blur": ("sigma of the blur, in pixels", (1.5, 3.0)),
    "jpeg": ("JPEG quality", (15, 5)),
    "contrast": ("contrast factor", (0.3, 0.12)),
    "colour": ("saturation factor", (0.3, 0.0)),
}


def _seed_for(image: torch.Tensor, seed: int) -> int:
    """A seed drawn from the image's pixels and `seed`: the same photo gets the same noise in any order."""
    digest = hashlib.sha256(image.numpy().tobytes() + str(seed).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@dataclass(frozen=True)
class Shift:
    """One corruption of a [0, 1] image tensor: `kind` (a key of KINDS) at `severity` (1 or 2), seeded.

    Deterministic: the random draws of a shift come from `seed` and the photo's own pixels, so a photo is shifted
    the same way whatever the order of the loader, and the repr (kind, severity, seed) names the result for caches.
    """

    kind: str
    severity: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown shift {self.kind!r}; choose one of {', '.join(KINDS)}.")
        levels = KINDS[self.kind][1]
        if not 1 <= self.severity <= len(levels):
            raise ValueError(f"Severity of {self.kind!r} runs from 1 to {len(levels)}, not {self.severity}.")

    @property
    def level(self) -> float:
        """The number behind the severity (a sigma, a quality, a factor)."""
        return KINDS[self.kind][1][self.severity - 1]

    @property
    def name(self) -> str:
        """`kind-severity`, e.g. `noise-2`."""
        return f"{self.kind}-{self.severity}"

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        level = self.level
        if self.kind == "noise":
            generator = torch.Generator().manual_seed(_seed_for(image, self.seed))
            return gaussian_noise(image, level, generator)
        corrupt: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            "blur": lambda x: gaussian_blur(x, level),
            "jpeg": lambda x: jpeg(x, int(level)),
            "contrast": lambda x: contrast(x, level),
            "colour": lambda x: saturation(x, level),
        }
        return corrupt[self.kind](image)

    def __repr__(self) -> str:
        return f"Shift({self.kind!r}, severity={self.severity}, level={self.level}, seed={self.seed})"


def shifted_transform(transform: T.Compose, shift: Callable[[torch.Tensor], torch.Tensor]) -> T.Compose:
    """The eval transform with `shift` applied to the [0, 1] tensor of the cropped photo, before normalising."""
    steps = list(transform.transforms)
    at = next((i for i, step in enumerate(steps) if isinstance(step, T.ToTensor)), None)
    if at is None:
        raise ValueError("The transform has no ToTensor step to shift after; pass a backbone's eval transform.")
    return T.Compose([*steps[: at + 1], shift, *steps[at + 1 :]])


def shifts(kinds: Iterable[str] = KINDS, severities: Iterable[int] = (1, 2), seed: int = 0) -> list[Shift]:
    """Every `Shift` of the given kinds at the given severities, kind by kind."""
    return [Shift(kind, severity, seed) for kind in kinds for severity in severities]


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of `model`, in order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, batches: Iterable, *, device: torch.device | str = "cpu") -> nn.Module:
    """Recompute every BatchNorm layer's running mean and variance from `batches` (AdaBN); no weight changes.

    The statistics are reset, then averaged over all the batches with equal weight (momentum None), with only the
    BatchNorm layers in training mode. The model is left in eval mode, using the new statistics. `batches` yields
    inputs or (inputs, labels) pairs; labels are never read.
    """
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no BatchNorm layer to re-estimate.")
    model.eval()
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average: every batch counts the same
        layer.train()
    try:
        seen = 0
        for batch in batches:
            x = batch[0] if isinstance(batch, list | tuple) else batch
            model(x.to(device))
            seen += len(x)
        if seen == 0:
            raise ValueError("No batches to estimate the BatchNorm statistics from.")
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
            layer.eval()
    return model


def interpolate_weights(start: dict, end: dict, alpha: float) -> dict:
    """(1 - alpha) * start + alpha * end for every floating-point tensor (WiSE-FT); other entries taken from `end`.

    Both state dicts must hold the same names and shapes (the same network). alpha 0 gives `start`, 1 gives `end`.
    """
    if start.keys() != end.keys():
        missing = sorted(set(start) ^ set(end))[:5]
        raise ValueError(f"The two state dicts name different tensors (first differences: {missing}).")
    mixed = {}
    for name, a in start.items():
        b = end[name]
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {tuple(a.shape)} in one state dict and {tuple(b.shape)} in the other.")
        mixed[name] = torch.lerp(a, b.to(a.dtype), alpha) if a.is_floating_point() else b.clone()
    return mixed
