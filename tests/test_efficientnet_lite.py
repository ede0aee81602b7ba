"""EfficientNet-Lite: `layers_above` and its inverse `load_layers_above`, and the public names lessons use."""

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
        last_block = efficientnet_lite.stage_names(model.table)[stage][-1]
        split = top.eval()(layer_output(model, x, last_block))
        whole = efficientnet_lite.load_layers_above(copy.deepcopy(model), top).forward_features(x)
    assert torch.allclose(split, whole, atol=1e-5) and not torch.allclose(whole, model.forward_features(x))


def test_a_top_that_does_not_fit_is_refused():
    model = efficientnet_lite.build("efficientnet_lite0", num_classes=2)
    too_tall = torch.nn.Sequential(*[torch.nn.Identity()] * (len(model._blocks) + 6))
    with pytest.raises(ValueError, match="do not fit"):
        efficientnet_lite.load_layers_above(model, too_tall)


def test_public_names_are_the_models_own_layers():
    model = efficientnet_lite.build("efficientnet_lite0")
    assert model.classifier is model._fc
    assert model.stem.conv is model._conv_stem and model.stem.bn is model._bn0
    assert model.head.conv is model._conv_head and model.head.bn is model._bn1
    stages = model.stages
    assert list(stages) == [f"stage{n}" for n in range(1, 8)]
    assert [b for s in stages.values() for b in s] == list(model._blocks)
    assert stages["stage7"][0] is model._blocks[15]
    for p in model.stem.parameters():  # freezing a view freezes the model
        p.requires_grad_(False)
    assert not model._conv_stem.weight.requires_grad


def test_assigning_a_classifier_replaces_fc_and_keeps_the_weights_layout():
    model = efficientnet_lite.build("efficientnet_lite0")
    keys = list(model.state_dict())
    model.classifier = torch.nn.Linear(1280, 2)
    assert model._fc.out_features == 2 and model.classifier is model._fc and "classifier" not in model._modules
    assert list(model.state_dict()) == keys  # the same names: `_fc.weight`, `_fc.bias`
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
