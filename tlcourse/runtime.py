"""Where and how the arithmetic runs: the device, mixed precision, memory format, and seeds."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

DEVICE_ENV_VAR = "TLCOURSE_DEVICE"


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device asked for (`prefer`: 'cpu', 'cuda:1', 'mps', a torch.device; else $TLCOURSE_DEVICE), or CUDA when
    present, else the CPU.

    Apple's MPS is used only when asked for (`prefer="mps"` or TLCOURSE_DEVICE=mps): the course's checks have not
    been run on it, and losses computed on it have been wrong in other courses (rasbt/LLMs-from-scratch #791).
    Every option named `device` in the package (and `tlcourse train --device`) becomes a torch.device here.
    """
    prefer = prefer or os.environ.get(DEVICE_ENV_VAR) or None
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def mps_available() -> bool:
    """Whether Apple's GPU (MPS) is present (it is used only when asked for: see `pick_device`)."""
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; `deterministic=True` also asks torch for deterministic kernels (slower)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def autocast(device: torch.device):
    """Mixed precision on CUDA (bf16 where supported, else fp16); full precision elsewhere."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """The loss scaler for training on `device`: enabled in fp16 (CUDA without bf16), a pass-through otherwise."""
    fp16 = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return torch.amp.GradScaler("cuda" if fp16 else device.type, enabled=fp16)


def to_device(x, device: torch.device):
    """Copy a batch (a tensor, or a dict of tensors such as tokenised text) to the device without blocking.

    Image batches go channels-last on CUDA, and on the CPU when they are photo-sized (both sides >= 64 px): there it
    made EfficientNet-Lite0 1.3-1.5x faster at 288 px (measured on 2 cores); tiny images such as 8x8 digits gain
    nothing.
    """
    if isinstance(x, Mapping):
        return {key: to_device(value, device) for key, value in x.items()}
    if x.ndim == 4 and (device.type == "cuda" or min(x.shape[-2:]) >= 64):
        return x.to(device, non_blocking=True, memory_format=torch.channels_last)
    return x.to(device, non_blocking=True)


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move the model to the device; conv nets go channels-last on CUDA, where tensor cores like it."""
    model.to(device)
    if device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model
