"""Lesson 12's exercise checks accept the solutions and reject typical mistakes with a hint."""

import torch
from torch import nn

from tlcourse import checks

from .checking import fails, passes


def noise_ok(image, sigma, generator):
    return (image + sigma * torch.randn(image.shape, generator=generator)).clamp(0, 1)


def test_gaussian_noise_check(capsys):
    passes(capsys, checks.check_gaussian_noise, noise_ok)
    fails(
        checks.check_gaussian_noise,
        lambda x, s, g: (x + s * torch.randn(x.shape)).clamp(0, 1),
        match="not reproducible",
    )
    fails(
        checks.check_gaussian_noise, lambda x, s, g: x + s * torch.randn(x.shape, generator=g), match=r"clamp\(0, 1\)"
    )
    fails(
        checks.check_gaussian_noise,
        lambda x, s, g: (x + s**2 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        match="standard deviation",
    )
    fails(
        checks.check_gaussian_noise,
        lambda x, s, g: x.add_(s * torch.randn(x.shape, generator=g)).clamp_(0, 1),
        match="in place",
    )


def mix_ok(start, end, alpha):
    return {k: torch.lerp(a, end[k], alpha) if a.is_floating_point() else end[k] for k, a in start.items()}


def test_mix_weights_check(capsys):
    passes(capsys, checks.check_mix_weights, mix_ok)
    fails(checks.check_mix_weights, lambda a, b, t: mix_ok(a, b, 1 - t), match="swapped")
    fails(
        checks.check_mix_weights, lambda a, b, t: {k: (1 - t) * a[k] + t * b[k] for k in a}, match="num_batches_tracked"
    )


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


def test_reestimate_bn_check(capsys):
    passes(capsys, checks.check_reestimate_bn, bn_ok)
    fails(checks.check_reestimate_bn, bn_no_reset, match="momentum = None")
    fails(checks.check_reestimate_bn, bn_left_training, match="training mode")
    fails(checks.check_reestimate_bn, bn_eval_only, match="old statistics")
