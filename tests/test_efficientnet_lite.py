"""EfficientNet-Lite: `layers_above` and its inverse `load_layers_above`, the public names lessons use, and the
published weights' names mapped onto them as they load."""

import copy

import pytest
import torch

from tlcourse import efficientnet_lite
from tlcourse.surgery import layer_output


@pytest.mark.parametrize("stage", ["stage5", "stage6"])
def test_split_then_reassemble_gives_the_same_forward(stage):
    torch.manual_seed(0)
    model = efficientnet_lite.build("efficientnet_lite0", num_classes=2).eval()
    x = torch.randn(2, 3, 96, 96)
    top = efficientnet_lite.layers_above(model, stage)
    with torch.no_grad():
        for p in top.parameters():  # as if fine-tuned: the copy now differs from the model
            p.add_(0.01 * torch.randn_like(p))
        split = top.eval()(layer_output(model, x, f"stages.{stage}"))
        whole = efficientnet_lite.load_layers_above(copy.deepcopy(model), top).forward_features(x)
    assert torch.allclose(split, whole, atol=1e-5) and not torch.allclose(whole, model.forward_features(x))


def test_a_top_that_does_not_fit_is_refused():
    model = efficientnet_lite.build("efficientnet_lite0", num_classes=2)
    too_tall = torch.nn.Sequential(*[torch.nn.Identity()] * (len(model.blocks()) + 6))
    with pytest.raises(ValueError, match="do not fit"):
        efficientnet_lite.load_layers_above(model, too_tall)


def test_the_parts_have_one_name_each():
    model = efficientnet_lite.build("efficientnet_lite0")
    tops = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert tops == {"stem", "stages", "head", "classifier"}
    assert not [name for name, _ in model.named_modules() if "._" in f".{name}"], "no underscored names remain"
    assert list(model.stages) == [f"stage{n}" for n in range(1, 8)]
    assert model.blocks()[15] is model.stages["stage7"][0] and len(model.blocks()) == 16
    model.classifier = torch.nn.Linear(1280, 2)  # a head swap is a plain assignment
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
    assert [k for k in model.state_dict() if k.startswith("classifier")] == ["classifier.weight", "classifier.bias"]


def _in_the_published_layout(model) -> dict:
    """`model`'s state_dict under the lukemelas names the weights' files use (inverting `weights_key`)."""
    ours = list(model.state_dict())
    published = {efficientnet_lite.weights_key(k, model.table): k for k in _published_keys(model)}
    assert sorted(published) == sorted(ours)
    state = model.state_dict()
    return {old: state[new] for new, old in published.items()}


def _published_keys(model) -> list[str]:
    """Every key the published files hold for a network of `model`'s shape."""
    keys = ["_conv_stem.weight", *(f"_bn0.{t}" for t in _BN), "_conv_head.weight", *(f"_bn1.{t}" for t in _BN)]
    keys += ["_fc.weight", "_fc.bias"]
    for index, block in enumerate(model.blocks()):
        layers = ["_depthwise_conv", "_project_conv"] + (["_expand_conv"] if hasattr(block, "expand_conv") else [])
        keys += [f"_blocks.{index}.{layer}.weight" for layer in layers]
        bns = ["_bn1", "_bn2"] + (["_bn0"] if hasattr(block, "expand_conv") else [])
        keys += [f"_blocks.{index}.{bn}.{t}" for bn in bns for t in _BN]
    return keys


_BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite2"])
def test_a_state_dict_in_the_published_layout_loads_strictly(name):
    torch.manual_seed(0)
    source = efficientnet_lite.build(name, num_classes=3).eval()
    target = efficientnet_lite.build(name, num_classes=3).eval()
    target.load_state_dict(_in_the_published_layout(source), strict=True)  # a course model saved before the rename
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(target(x), source(x))


def test_the_published_layout_loads_inside_a_larger_model():
    source = efficientnet_lite.build("efficientnet_lite0", num_classes=2)
    wrapper = torch.nn.Sequential(efficientnet_lite.build("efficientnet_lite0", num_classes=2))
    wrapper.load_state_dict({f"0.{k}": v for k, v in _in_the_published_layout(source).items()}, strict=True)
    assert torch.equal(wrapper[0].classifier.weight, source.classifier.weight)


@pytest.mark.parametrize("kernel,stride", [(1, 1), (3, 1), (5, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("size", [7, 14, 15, 224])
def test_same_padding_is_tensorflows_whichever_way_it_is_done(kernel, stride, size):
    """Conv2dSame (the convolution's own padding when even, F.pad when not) = zeros padded right/bottom first."""
    from torch.nn import functional as F

    from tlcourse.efficientnet_lite import Conv2dSame

    torch.manual_seed(0)
    conv = Conv2dSame(4, 6, kernel, stride)
    x = torch.randn(2, 4, size, size).to(memory_format=torch.channels_last)
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    padded = F.pad(x, [total // 2, total - total // 2] * 2)
    expected = F.conv2d(padded, conv.weight, conv.bias, stride)
    assert conv(x).shape == expected.shape == (2, 6, -(-size // stride), -(-size // stride))
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)
