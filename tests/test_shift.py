"""The shift helpers: deterministic corruptions slotted into an eval transform, AdaBN, weight interpolation."""

import pytest
import torch
from PIL import Image
from torch import nn

from tlcourse import models, shift


def photo(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, 32, 32, generator=g)


@pytest.mark.parametrize("kind", list(shift.KINDS))
def test_every_shift_keeps_shape_and_range_and_repeats(kind):
    for severity in (1, 2):
        s = shift.Shift(kind, severity, seed=3)
        a, b = s(photo()), s(photo())
        assert a.shape == (3, 32, 32) and 0 <= a.min() and a.max() <= 1
        assert torch.equal(a, b)  # deterministic
        assert not torch.allclose(a, photo(), atol=1e-3)  # it changes the photo


def test_severity_two_is_further_from_the_photo_than_one():
    for kind in shift.KINDS:
        d1, d2 = ((shift.Shift(kind, s)(photo()) - photo()).abs().mean() for s in (1, 2))
        assert d2 > d1, kind


def test_noise_depends_on_photo_and_seed_not_on_order():
    s = shift.Shift("noise", 1, seed=0)
    assert not torch.equal(s(photo(0)) - photo(0), s(photo(1)) - photo(1))
    assert not torch.equal(s(photo()), shift.Shift("noise", 1, seed=1)(photo()))


def test_bad_kind_or_severity_is_refused():
    with pytest.raises(ValueError, match="Unknown shift"):
        shift.Shift("fog", 1)
    with pytest.raises(ValueError, match="Severity"):
        shift.Shift("blur", 3)


def test_shifted_transform_shifts_before_normalising_and_names_the_shift():
    transform = models.eval_transform(24, [0.5] * 3, [0.5] * 3)
    s = shift.Shift("contrast", 2)
    shifted = shift.shifted_transform(transform, s)
    image = Image.new("RGB", (30, 30), (250, 10, 10))
    x = shifted(image)
    assert x.shape == (3, 24, 24) and x.abs().max() < transform(image).abs().max()  # towards grey
    assert "Shift('contrast', severity=2" in repr(shifted)
    with pytest.raises(ValueError, match="ToTensor"):
        shift.shifted_transform(transform.__class__([]), s)


def test_reestimate_batchnorm_gives_the_data_statistics_and_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    model[0].weight.data = torch.eye(3)
    model[0].bias.data.zero_()
    data = 5 + 2 * torch.randn(400, 3)
    weight = model[0].weight.clone()
    shift.reestimate_batchnorm(model, [(data[i : i + 100], None) for i in range(0, 400, 100)])
    bn = model[1]
    assert not model.training and not bn.training and bn.momentum == 0.1
    assert torch.allclose(bn.running_mean, data.mean(0), atol=1e-4)
    assert torch.allclose(bn.running_var, data.var(0), rtol=0.02)
    assert torch.equal(model[0].weight, weight)
    with pytest.raises(ValueError, match="No batches"):
        shift.reestimate_batchnorm(model, [])
    with pytest.raises(ValueError, match="no BatchNorm"):
        shift.reestimate_batchnorm(nn.Linear(2, 2), [torch.zeros(2, 2)])


def test_interpolate_weights_ends_and_middle():
    a = {"w": torch.zeros(2), "n": torch.tensor(1)}
    b = {"w": torch.ones(2), "n": torch.tensor(5)}
    assert torch.equal(shift.interpolate_weights(a, b, 0.0)["w"], a["w"])
    assert torch.equal(shift.interpolate_weights(a, b, 1.0)["w"], b["w"])
    mid = shift.interpolate_weights(a, b, 0.25)
    assert torch.allclose(mid["w"], torch.full((2,), 0.25)) and mid["n"].item() == 5
    with pytest.raises(ValueError, match="different tensors"):
        shift.interpolate_weights(a, {"w": b["w"]}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        shift.interpolate_weights(a, {"w": torch.ones(3), "n": b["n"]}, 0.5)
