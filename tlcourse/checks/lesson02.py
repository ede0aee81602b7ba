"""Checks for lesson 02: feature extraction."""

from __future__ import annotations

import torch

from .feedback import exercise, fail, ok


@exercise("02")
def check_global_pool(fn) -> str:
    """fn(feature_maps [N, C, H, W]) -> [N, C], the mean over the spatial positions."""
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    got = fn(x)
    if tuple(got.shape) != (2, 3):
        fail(f"Shape {tuple(got.shape)}, expected (2, 3).", "Average over the last two dimensions: dim=(2, 3).")
    if not torch.allclose(got, x.mean(dim=(2, 3))):
        fail("Right shape, wrong values.", "Use the mean, not the sum or max.")
    return ok("global average pooling turns any feature map into one vector per image.")


@exercise("02")
def check_transform(fn, info) -> str:
    """fn(info) -> a transform matching the backbone: info.input_size crop, info.mean/info.std normalisation."""
    from PIL import Image

    image = Image.new("RGB", (320, 240), (255, 128, 0))
    x = fn(info)(image)
    if not torch.is_tensor(x) or tuple(x.shape) != (3, info.input_size, info.input_size):
        fail(
            f"Expected a tensor of shape (3, {info.input_size}, {info.input_size}).",
            "Resize, then CenterCrop(info.input_size), then ToTensor().",
        )
    want = (torch.tensor([1.0, 128 / 255, 0.0]) - torch.tensor(info.mean)) / torch.tensor(info.std)
    if not torch.allclose(x[:, 0, 0], want, atol=0.02):
        fail(
            f"Pixel values {x[:, 0, 0].tolist()} should be {want.tolist()}.",
            "Normalize with the backbone's own mean and std: T.Normalize(info.mean, info.std).",
        )
    return ok("your transform matches the preprocessing the backbone was trained with.")
