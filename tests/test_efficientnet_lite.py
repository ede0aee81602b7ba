"""`efficientnet_lite.layers_above` and its inverse `load_layers_above`: split, fine-tune the top, reassemble."""

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
