"""Lesson 12's exercise checks accept the solutions and reject typical mistakes with a hint."""

import pytest
import torch
from torch import nn

from tlcourse import checks
from tlcourse.checks import ExerciseError


def noise_ok(image, sigma, generator):
    return (image + sigma * torch.randn(image.shape, generator=generator)).clamp(0, 1)


def test_gaussian_noise_check():
    checks.check_gaussian_noise(noise_ok)
    with pytest.raises(ExerciseError, match="not reproducible"):
        checks.check_gaussian_noise(lambda x, s, g: (x + s * torch.randn(x.shape)).clamp(0, 1))
    with pytest.raises(ExerciseError, match=r"clamp\(0, 1\)"):
        checks.check_gaussian_noise(lambda x, s, g: x + s * torch.randn(x.shape, generator=g))
    with pytest.raises(ExerciseError, match="standard deviation"):
        checks.check_gaussian_noise(lambda x, s, g: (x + s**2 * torch.randn(x.shape, generator=g)).clamp(0, 1))
    with pytest.raises(ExerciseError, match="in place"):
        checks.check_gaussian_noise(lambda x, s, g: x.add_(s * torch.randn(x.shape, generator=g)).clamp_(0, 1))


def mix_ok(start, end, alpha):
    return {k: torch.lerp(a, end[k], alpha) if a.is_floating_point() else end[k] for k, a in start.items()}


def test_mix_weights_check():
    checks.check_mix_weights(mix_ok)
    with pytest.raises(ExerciseError, match="swapped"):
        checks.check_mix_weights(lambda a, b, t: mix_ok(a, b, 1 - t))
    with pytest.raises(ExerciseError, match="num_batches_tracked"):
        checks.check_mix_weights(lambda a, b, t: {k: (1 - t) * a[k] + t * b[k] for k in a})


def bn_ok(model, loader):
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
            m.train()
    with torch.no_grad():
        for x, _ in loader:
            model(x)
    model.eval()


def bn_no_reset(model, loader):
    model.train()
    with torch.no_grad():
        for x, _ in loader:
            model(x)
    model.eval()


def bn_left_training(model, loader):
    bn_ok(model, loader)
    model.train()


def bn_eval_only(model, loader):
    model.eval()
    with torch.no_grad():
        for x, _ in loader:
            model(x)


def test_reestimate_bn_check():
    checks.check_reestimate_bn(bn_ok)
    with pytest.raises(ExerciseError, match="momentum = None"):
        checks.check_reestimate_bn(bn_no_reset)
    with pytest.raises(ExerciseError, match="training mode"):
        checks.check_reestimate_bn(bn_left_training)
    with pytest.raises(ExerciseError, match="old statistics"):
        checks.check_reestimate_bn(bn_eval_only)
