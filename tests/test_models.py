"""Backbones: the offline EfficientNet-Lite0 recognises real photos; surgery and freezing do what they say."""

import urllib.error

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tlcourse import data, efficientnet_lite, models, surgery
from tlcourse.errors import WeightsUnavailableError


@pytest.fixture(scope="module")
def lite0():
    return models.load_backbone("efficientnet_lite0")


def test_lite0_recognises_ants_and_bees(real_data, lite0):
    """The pictured insect's ImageNet class (ant 310, bee 309) is in the top 5 for >= 90% of val photos."""
    model, transform, info = lite0
    assert info.categories[310] == "ant" and info.categories[309] == "bee"
    val = data.load_dataset("hymenoptera", "val", transform=transform)
    hits = 0
    with torch.no_grad():
        for x, y in DataLoader(val, batch_size=51):
            top5 = model(x).topk(5, dim=1).indices
            wanted = torch.where(y == val.classes.index("ants"), 310, 309)
            hits += (top5 == wanted[:, None]).any(dim=1).sum().item()
    assert hits / len(val) >= 0.90, f"top-5 hit rate {hits / len(val):.1%}"


def test_unknown_backbone_lists_known_names():
    with pytest.raises(ValueError, match="resnet18.*efficientnet_b0"):
        models.load_backbone("alexnet9000")


@pytest.mark.parametrize(
    "name",
    ["resnet18", "resnet50", "vgg16", "inception_v3", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"],
)
def test_torchvision_backbones_build_offline_without_weights(name):
    model, transform, info = models.load_backbone(name, pretrained=False)
    assert info.weights == "random-init" and info.categories and info.stages
    surgery.replace_head(model, info, 3)
    size = info.input_size
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, size, size)).shape == (1, 3)


def test_pretrained_torchvision_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*_a, **_k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match=r"resnet18-.*\.pth.*https://download.pytorch.org"):
        models.load_backbone("resnet18", pretrained=True)


def test_head_and_layer_errors(lite0):
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        surgery.replace_head(model, info, 1)
    with pytest.raises(ValueError, match="stage3"):
        surgery.layer_output(model, torch.randn(1, 3, 64, 64), "stage99", info)


def test_layer_output_shapes():
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    out = surgery.layer_output(model.eval(), torch.randn(2, 3, 224, 224), "stage3", info)
    assert out.shape == (2, 40, 28, 28)


def test_freezing_really_freezes_weights_and_batchnorm_stats():
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    surgery.replace_head(model, info, 2)
    surgery.freeze(model)
    surgery.unfreeze(model, ["stage7", "head", "classifier"], info)
    frozen_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("stem.", "stages.stage3."))}
    moving_before = model.head.bn.running_mean.clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    surgery.set_train_mode(model)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    opt.step()
    for k, v in frozen_before.items():
        assert torch.equal(model.state_dict()[k], v), f"{k} changed although frozen"
    assert not torch.equal(model.head.bn.running_mean, moving_before)  # the unfrozen head's BN still learns
    trainable, total = surgery.count_parameters(model)
    assert 0 < trainable < total


def test_plain_train_mode_would_move_frozen_bn_stats():
    """The trap set_train_mode avoids: requires_grad=False alone does not stop BatchNorm statistics."""
    model, _, _ = models.load_backbone("efficientnet_lite0", pretrained=False)
    surgery.freeze(model)
    before = model.stem.bn.running_mean.clone()
    model.train()(torch.randn(2, 3, 64, 64))
    assert not torch.equal(model.stem.bn.running_mean, before)


def test_param_groups_get_their_learning_rates():
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    surgery.freeze(model)
    surgery.unfreeze(model, ["stage7", "head", "classifier"], info)
    groups = surgery.param_groups(model, {"stage7": 1e-4, "head": 3e-4, "classifier": 1e-3}, info)
    opt = torch.optim.AdamW(groups)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 3e-4, 1e-3]
    assert sum(p.numel() for g in groups for p in g["params"]) == surgery.count_parameters(model)[0]
    with pytest.raises(ValueError, match="not in any group"):
        surgery.param_groups(model, {"classifier": 1e-3}, info)


def test_layers_above_a_stage_continue_the_forward_pass_on_its_maps(lite0):
    from tlcourse import efficientnet_lite

    model, _, info = lite0
    x = torch.randn(2, 3, 224, 224)
    maps = surgery.layer_output(model, x, "stage6", info)
    top = efficientnet_lite.layers_above(model, "stage6").eval()
    with torch.no_grad():
        assert torch.allclose(top(maps), model.forward_features(x), atol=1e-4)
    shared = {id(p) for p in model.parameters()} & {id(p) for p in top.parameters()}
    assert not shared, "layers_above must copy, so fine-tuning the top leaves the backbone as it was"
    with pytest.raises(ValueError, match="Cut after a block stage"):
        efficientnet_lite.layers_above(model, "head")


def test_freeze_batchnorm_freezes_only_batchnorm():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    assert surgery.freeze_batchnorm(net) == 16
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]
    surgery.set_train_mode(net)
    assert not net[1].training and not net[2][1].training and net[0].training


@pytest.mark.parametrize("name,size,blocks", [("efficientnet_lite1", 240, 21), ("efficientnet_lite2", 260, 21)])
def test_bigger_lites_load_strictly_and_recognise_an_insect(real_data, name, size, blocks):
    """Lite1/Lite2 weights load with strict=True; on real val photos the insect is in the top 5 (as for Lite0)."""
    model, transform, info = models.load_backbone(name)
    assert info.input_size == size and len(model.blocks()) == blocks and info.weights.startswith(name.replace("_", "-"))
    val = data.load_dataset("hymenoptera", "val", transform=transform)
    picks = list(range(0, len(val), 8))  # 20 photos of both classes: enough to tell a working net from a broken one
    x = torch.stack([val[i][0] for i in picks])
    wanted = torch.tensor([310 if val.targets[i] == val.classes.index("ants") else 309 for i in picks])
    with torch.no_grad():
        top5 = model(x).topk(5, dim=1).indices
    hits = (top5 == wanted[:, None]).any(dim=1).float().mean().item()
    assert hits >= 0.85, f"{name}: top-5 hit rate {hits:.0%}"
    top = efficientnet_lite.layers_above(model, "stage6").eval()
    with torch.no_grad():
        assert torch.allclose(
            top(surgery.layer_output(model, x[:2], "stage6", info)), model.forward_features(x[:2]), atol=1e-4
        )


def test_a_saved_model_describes_itself_and_predicts(tmp_path):
    from PIL import Image

    from tlcourse.errors import CheckpointError
    from tlcourse.storage import save_checkpoint

    torch.manual_seed(0)
    model, transform, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    surgery.replace_head(model, info, 3)
    path = models.save_model(
        tmp_path / "m" / "model.pt", model, info, ["ants", "bees", "wasps"], transform, meta={"val_acc": 0.5}
    )
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # written atomically: no temporary file left
    raw = torch.load(path, weights_only=True)
    assert raw["backbone"] == "efficientnet_lite0" and raw["input_size"] == 224 and raw["mean"] == [0.5] * 3
    loaded = models.load_model(path)
    assert loaded.classes == ["ants", "bees", "wasps"] and not loaded.model.training and loaded.meta == {"val_acc": 0.5}
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model.eval()(x))
    assert repr(loaded.transform) == repr(transform)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), (10, 120, 30)).save(photo)
    out = models.predict_images(loaded, [photo, Image.open(photo)], k=2)
    assert len(out) == 2 and out[0] == out[1] and len(out[0]) == 2 and out[0][0][1] >= out[0][1][1]
    assert {c for c, _ in models.predict_images(path, [photo], k=5)[0]} == {"ants", "bees", "wasps"}
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a tlcourse model file.*tlcourse train"):
        models.load_model(tmp_path / "notes.pt")
    save_checkpoint(tmp_path / "ckpt.pt", model)
    with pytest.raises(CheckpointError, match="training checkpoint"):
        models.load_model(tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="No model file"):
        models.load_model(tmp_path / "absent.pt")


def test_training_step_flops_count_the_backward_pass_that_freezing_saves():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 2))
    x, y = torch.randn(8, 32), torch.randint(0, 2, (8,))
    forward = surgery.forward_flops(model, x)
    full = surgery.training_step_flops(model, x, y)
    top_input_grad = 2 * 8 * 64 * 2  # the gradient flowing from the top layer down to the hidden layer
    assert full == 2 * forward + top_input_grad  # backward: every weight's gradient, and the inputs' above the data
    model[0].requires_grad_(False)  # the lowest layer frozen: nothing below the top layer needs a gradient
    assert surgery.training_step_flops(model, x, y) == forward + 2 * 8 * 64 * 2  # the top layer's weight gradient
    assert all(p.grad is None for p in model.parameters())  # the count leaves no gradients behind
