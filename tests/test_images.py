"""Photos that are not clean RGB JPEGs, and a learner's own image folders: one class list, every bad file named."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as T

from tests.conftest import make_image
from tlcourse.decoding import draft_side
from tlcourse.images import (
    DataFolderError,
    ImageFileError,
    SplitMismatchError,
    image_csv,
    image_folder,
    image_splits,
    open_rgb,
    split,
)


@pytest.mark.parametrize("mode,fmt", [("P", "GIF"), ("L", "PNG"), ("CMYK", "JPEG"), ("RGBA", "PNG")])
def test_colour_modes_become_rgb(tmp_path, mode, fmt):
    make_image(tmp_path / "a" / f"x.{fmt.lower()}", mode, fmt=fmt)
    make_image(tmp_path / "b" / "y.jpg")
    ds = image_folder(tmp_path)
    image, _ = ds[0]
    assert image.mode == "RGB"


def test_high_bit_depth_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 30000, dtype=np.uint16)).save(tmp_path / "sixteen.png")
    with Image.open(tmp_path / "sixteen.png") as img:
        assert img.mode.startswith("I")  # PIL opens 16-bit PNGs as I;16 or I
    assert open_rgb(tmp_path / "sixteen.png").getpixel((0, 0)) == (117, 117, 117)  # 30000 / 257, not 255
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32), mode="F").save(tmp_path / "float.tif")
    assert open_rgb(tmp_path / "float.tif").getpixel((0, 0)) == (128, 128, 128)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 30), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": phones store photos like this
    img.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert open_rgb(tmp_path / "phone.jpg").size == (30, 40)


def test_unusable_files_left_out_with_one_warning_naming_each(tmp_path):
    make_image(tmp_path / "ants" / "good one.jpg")  # a space in the name, as in the real data
    make_image(tmp_path / "bees" / "good.jpg")
    make_image(tmp_path / "bees" / "2024" / "nested.jpg")  # nested folders belong to their top class folder
    (tmp_path / "ants" / "empty.jpg").write_bytes(b"")
    (tmp_path / "bees" / "notes.png").write_text("not an image")
    (tmp_path / "bees" / "readme.txt").write_text("about bees")
    (tmp_path / "ants" / "link.jpg").symlink_to(tmp_path / "nowhere.jpg")
    with pytest.warns(UserWarning) as record:
        ds = image_folder(tmp_path)
    assert len(record) == 1
    message = str(record[0].message)
    for name, why in [
        ("empty.jpg", "empty file"),
        ("notes.png", "not an image"),
        ("readme.txt", "not an image file type (.txt)"),
        ("link.jpg", "dangling symlink"),
    ]:
        assert f"{name}: {why}" in message, message
    assert ds.classes == ["ants", "bees"] and ds.class_counts() == {"ants": 1, "bees": 2}
    assert any(p.name == "nested.jpg" and y == 1 for p, y in ds.samples)


def _png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (what a decompression bomb looks like)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_decompression_bomb_and_pixel_limit_are_named(tmp_path):
    make_image(tmp_path / "a" / "ok.jpg")
    make_image(tmp_path / "b" / "ok.jpg")
    (tmp_path / "b" / "huge.png").write_bytes(_png_claiming_size(16000, 15000))  # 240 megapixels
    make_image(tmp_path / "a" / "big.jpg", size=(200, 100))
    with pytest.warns(UserWarning) as record:
        ds = image_folder(tmp_path, max_pixels=10_000)
    message = str(record[0].message)
    assert "huge.png: " in message and "big.jpg: 200x100 pixels" in message and len(ds) == 2
    with pytest.warns(UserWarning, match="huge.png"):  # PIL's own DecompressionBombError, at the default limit
        assert len(image_folder(tmp_path)) == 3


def test_truncated_file_left_out_and_later_damage_is_an_error_not_a_neighbour(tmp_path):
    good = make_image(tmp_path / "ants" / "a.jpg", size=(64, 64))
    make_image(tmp_path / "bees" / "b.jpg", size=(64, 64))
    make_image(tmp_path / "bees" / "c.jpg", size=(64, 64))
    (tmp_path / "bees" / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.warns(UserWarning, match="truncated.jpg: unreadable or truncated"):
        ds = image_folder(tmp_path, transform=T.Compose([T.Resize((32, 32)), T.ToTensor()]))
    assert len(ds) == 3
    (tmp_path / "bees" / "c.jpg").write_bytes(b"\xff\xd8garbage")  # goes bad after the check
    with pytest.raises(ImageFileError, match="c.jpg could not be read"):
        list(DataLoader(ds, batch_size=2))


def test_empty_class_folder_warns_and_is_left_out(tmp_path):
    make_image(tmp_path / "cats" / "1.jpg")
    make_image(tmp_path / "dogs" / "1.jpg")
    (tmp_path / "owls").mkdir()
    with pytest.warns(UserWarning, match="owls"):
        ds = image_folder(tmp_path)
    assert ds.classes == ["cats", "dogs"]


def test_single_class_is_an_error(tmp_path):
    make_image(tmp_path / "cats" / "1.jpg")
    with pytest.raises(ValueError, match="at least 2"):
        image_folder(tmp_path)


def _tree(root, layout):
    for split_name, classes in layout.items():
        for c in classes:
            make_image(root / split_name / c / "1.jpg")
            make_image(root / split_name / c / "2.jpg")


def test_splits_share_the_training_class_list(tmp_path):
    _tree(tmp_path, {"train": ["ants", "bees", "wasps"], "val": ["ants", "bees", "wasps"]})
    splits = image_splits(tmp_path)
    assert splits["train"].classes == splits["val"].classes == ["ants", "bees", "wasps"]
    assert {p.parent.name: y for p, y in splits["val"].samples} == {"ants": 0, "bees": 1, "wasps": 2}


def test_a_val_split_missing_a_class_is_an_error_not_a_shifted_label(tmp_path):
    _tree(tmp_path, {"train": ["ants", "bees", "wasps"], "val": ["bees", "wasps"]})
    with pytest.raises(
        SplitMismatchError, match=r"val has class folders \['bees', 'wasps'\].*missing or empty \['ants'\]"
    ):
        image_splits(tmp_path)


def test_extra_class_and_missing_split_are_errors(tmp_path):
    _tree(tmp_path, {"train": ["ants", "bees"], "val": ["ants", "bees", "wasps"]})
    with pytest.raises(SplitMismatchError, match=r"extra folder\(s\) \['wasps'\]"):
        image_splits(tmp_path)
    with pytest.raises(SplitMismatchError, match="wasps"):
        image_folder(tmp_path / "val", classes=["ants", "bees"])
    with pytest.raises(DataFolderError, match="no test/ folder.*tlcourse.images.split"):
        image_splits(tmp_path, splits=("train", "test"))


def test_pinned_classes_fix_the_labels(tmp_path):
    _tree(tmp_path, {"val": ["bees", "ants"]})
    ds = image_folder(tmp_path / "val", classes=["bees", "ants"])
    assert ds.classes == ["bees", "ants"] and {p.parent.name: y for p, y in ds.samples} == {"bees": 0, "ants": 1}


def test_csv_layout_with_missing_and_unlisted_files(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg", "extra.jpg"):
        make_image(tmp_path / "imgs" / name)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,label\na.jpg,cat\nb.jpg,dog\nc.jpg,dog\ngone.jpg,cat\n")
    with pytest.warns(UserWarning) as record:
        ds = image_csv(csv_path, tmp_path / "imgs")
    messages = " ".join(str(r.message) for r in record)
    assert "line 5: gone.jpg" in messages and "extra.jpg" in messages
    assert len(ds) == 3 and ds.classes == ["cat", "dog"] and ds.targets == [0, 1, 1]


def test_csv_errors(tmp_path):
    make_image(tmp_path / "a.jpg")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,class\na.jpg,cat\n")
    with pytest.raises(ValueError, match="'file' and 'label'"):
        image_csv(csv_path)
    csv_path.write_text("file,label\na.jpg,cat\na.jpg,dog\n")
    with pytest.raises(ValueError, match="a.jpg is listed twice"):
        image_csv(csv_path)
    csv_path.write_text("file,label\na.jpg,owl\n")
    with pytest.raises(SplitMismatchError, match="owl"):
        image_csv(csv_path, classes=["cat", "dog"])


def test_split_is_stratified_disjoint_and_shares_classes(tmp_path):
    for c, n in (("a", 10), ("b", 5), ("c", 3)):
        for i in range(n):
            make_image(tmp_path / c / f"{i}.jpg")
    ds = image_folder(tmp_path)
    train, val, test = split(ds, val_fraction=0.2, test_fraction=0.2, seed=1)
    assert train.classes == val.classes == test.classes == ds.classes
    paths = [set(p for p, _ in part.samples) for part in (train, val, test)]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert set().union(*paths) == {p for p, _ in ds.samples}
    assert val.class_counts() == {"a": 2, "b": 1, "c": 1} and train.class_counts() == {"a": 6, "b": 3, "c": 1}
    assert [s for s in split(ds, seed=1)[1].samples] == [s for s in split(ds, seed=1)[1].samples]
    with pytest.raises(ValueError, match="Class 'c' has 3 image"):
        split(ds, val_fraction=0.5, test_fraction=0.4)


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    make_image(tmp_path / "a" / "1.jpg")
    f = make_image(tmp_path / "b" / "1.jpg")
    before = image_folder(tmp_path).fingerprint()
    make_image(f, size=(50, 50))
    assert image_folder(tmp_path).fingerprint() != before


def test_feature_store_serves_any_split_without_the_backbone(tmp_path, tmp_data):
    from tlcourse import feature_store, models

    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(4):  # distinct contents: identical files would (rightly) share one cache entry
            Image.new("RGB", (48, 48), (40 * i, 100 if c == "a" else 200, 7)).save(tmp_path / "imgs" / c / f"{i}.jpg")
    model, _, info = models.load_backbone("efficientnet_lite0", pretrained=False)
    images_seen = []
    model.register_forward_pre_hook(lambda _m, args: images_seen.append(len(args[0])))
    ds = image_folder(tmp_path / "imgs", T.Compose([T.Resize((64, 64)), T.ToTensor()]))
    train, val = split(ds, val_fraction=0.25, seed=0)
    f_train, y_train = feature_store.image_features(model, train, info=info, device="cpu", progress=False)
    assert sum(images_seen) == len(train) == 6 and f_train.shape == (6, 1280)
    f_all, y_all = feature_store.image_features(model, ds, info=info, device="cpu", progress=False)
    assert sum(images_seen) == 8  # only the 2 val images were new
    for seed in (1, 2, 3):  # new splits: nothing computed
        for part in split(ds, val_fraction=0.5, seed=seed):
            feature_store.image_features(model, part, info=info, device="cpu", progress=False)
    assert sum(images_seen) == 8
    index = {p: i for i, (p, _) in enumerate(ds.samples)}
    assert torch.equal(f_train, f_all[[index[p] for p, _ in train.samples]]) and y_all.tolist() == ds.targets
    copy = tmp_path / "copy"  # the same photos under other names (e.g. the CSV layout) are the same content
    for i, (p, _) in enumerate(ds.samples):
        (copy / ds.classes[ds.targets[i]]).mkdir(parents=True, exist_ok=True)
        (copy / ds.classes[ds.targets[i]] / f"renamed{i}.jpg").write_bytes(p.read_bytes())
    feature_store.image_features(model, image_folder(copy, ds.transform), info=info, device="cpu", progress=False)
    assert sum(images_seen) == 8


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth scene with edges and a little grain, like a camera photo (not noise: a real photo's pixels)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    scene = np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.5 + 0.3 * np.cos(5 * y), 0.4 + 0.3 * x], axis=-1)
    for cx, cy, r in rng.uniform(0.1, 0.9, size=(6, 3)) * [width, height, 0.15 * height]:
        scene[(np.hypot(np.arange(width) - cx, np.arange(height)[:, None] - cy) < r)] *= 0.5
    grain = rng.normal(0, 0.02, scene.shape)
    return Image.fromarray((np.clip(scene + grain, 0, 1) * 255).astype(np.uint8))


def test_big_jpeg_decodes_at_reduced_scale_upright_and_with_the_same_pixels(tmp_path):
    """A 5-megapixel JPEG taken sideways (EXIF orientation 6): decoded at 1/4 scale, upright, as the full decode."""
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to view
    photo_like(2592, 1944).save(path, quality=90, exif=exif)
    reduced, full = open_rgb(path, 256), open_rgb(path)
    assert full.size == (1944, 2592) and reduced.size == (486, 648)  # upright both; 1/8 would be below 256
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
    difference = (transform(reduced) - transform(full)).abs()
    assert difference.mean() < 0.01 and difference.max() < 0.25  # the same picture, to within resampling


def test_reduced_scale_never_goes_below_the_transforms_resize(tmp_path):
    """Decoding shrinks a JPEG no further than the transform's Resize (Lite2 resizes to 297): no upsampling after."""
    for name in ("class_a", "class_b"):
        (tmp_path / name).mkdir()
        photo_like(2936, 2200).save(tmp_path / name / "big.jpg", quality=90)  # 1/8 scale: 367 x 275
    seen = []
    record = T.Lambda(lambda im: seen.append(im.size) or im)
    ds = image_folder(tmp_path, transform=record)
    ds[0]
    assert seen[-1] == (367, 275)  # 1/8 scale is enough for the default min_side of 256
    ds.with_transform(T.Compose([record, T.Resize(297)]))[0]
    assert seen[-1] == (734, 550)  # 275 < 297: 1/4 scale instead, then Resize shrinks (never enlarges)
    assert draft_side(256, T.Compose([T.Resize(297)])) == 297 and draft_side(256, None) == 256
    assert draft_side(None, T.Compose([T.Resize(297)])) is None  # min_side=None: always the full decode
    assert ds.fingerprint() != ds.with_transform(T.Compose([T.Resize(297)])).fingerprint()
