"""Feature cache: the second run is served from disk, and any change to the inputs invalidates it."""

import torch
from torchvision import transforms as T

from tests.conftest import make_image
from tlcourse import features, models
from tlcourse.images import image_folder


def test_cache_hit_and_invalidation(tmp_path, tmp_data):
    for cls in ("a", "b"):
        for i in range(3):
            make_image(tmp_path / "imgs" / cls / f"{i}.jpg", size=(48, 48))
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    tf = T.Compose([T.Resize((64, 64)), T.ToTensor()])
    ds = image_folder(tmp_path / "imgs", tf)
    forwards = []  # work counted, not seconds: a cache hit runs the backbone on no batch at all
    model.stem.conv.register_forward_hook(lambda *_: forwards.append(1))
    f1, y1 = features.extract_features(model, ds, info=info, device="cpu", progress=False)
    first = len(forwards)
    f2, y2 = features.extract_features(model, ds, info=info, device="cpu", progress=False)
    assert torch.equal(f1, f2) and torch.equal(y1, y2) and f1.shape == (6, 1280)
    assert first > 0 and len(forwards) == first
    assert len(list((tmp_data / "cache" / "features").glob("*.pt"))) == 1
    keys = {
        features.cache_key(model, ds, "pooling"),
        features.cache_key(model, ds.with_transform(T.Compose([T.Resize((32, 32)), T.ToTensor()])), "pooling"),
        features.cache_key(model, ds, "stage3"),
        features.cache_key(model, ds, "stage3", pool=False),
    }
    model.classifier.bias.data += 1
    keys.add(features.cache_key(model, ds, "pooling"))
    assert len(keys) == 5


def test_unpooled_feature_maps_feed_the_layers_above(tmp_path, tmp_data):
    for cls in ("a", "b"):
        make_image(tmp_path / "imgs" / cls / "0.jpg", size=(48, 48))
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    ds = image_folder(tmp_path / "imgs", T.Compose([T.Resize((64, 64)), T.ToTensor()]))
    maps, _ = features.extract_features(model, ds, "stage6", info, device="cpu", progress=False, pool=False)
    pooled, _ = features.extract_features(model, ds, "stage6", info, device="cpu", progress=False)
    assert maps.shape == (2, 192, 2, 2) and pooled.shape == (2, 192)
    assert torch.allclose(maps.mean(dim=(2, 3)), pooled, atol=1e-6)
    assert len(list((tmp_data / "cache" / "features").glob("*.pt"))) == 2


def test_linear_probe_and_torch_head_on_separable_features():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=g)
    y = (x[:, :2].sum(1) > 0).long()
    probe = features.linear_probe(x[:150], y[:150], x[150:], y[150:])
    assert probe.val_acc > 0.9
    head, history = features.train_linear_head(x[:150], y[:150], x[150:], y[150:], 2, epochs=20, lr=1e-2)
    assert history.best("val_acc") > 0.9 and head.out_features == 2
