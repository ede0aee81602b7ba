"""Photos that are not clean RGB JPEGs, and a learner's own image folders."""
import warnings

import pytest
from torch.utils.data import DataLoader

from tests.conftest import make_image
from tlcourse.images import image_csv, image_folder


@pytest.mark.parametrize("mode,fmt", [("P", "GIF"), ("L", "PNG"), ("CMYK", "JPEG"), ("RGBA", "PNG")])
def test_colour_modes_become_rgb(tmp_path, mode, fmt):
    make_image(tmp_path / "a" / f"x.{fmt.lower()}", mode, fmt=fmt)
    make_image(tmp_path / "b" / "y.jpg")
    ds = image_folder(tmp_path)
    image, _ = ds[0]
    assert image.mode == "RGB"


def test_empty_and_fake_images_skipped_with_one_warning(tmp_path):
    make_image(tmp_path / "ants" / "good one.jpg")  # a space in the name, as in the real data
    make_image(tmp_path / "bees" / "good.jpg")
    (tmp_path / "ants" / "empty.jpg").write_bytes(b"")
    (tmp_path / "bees" / "notes.png").write_text("not an image")
    with pytest.warns(UserWarning) as record:
        ds = image_folder(tmp_path)
    assert len(record) == 1 and "empty.jpg" in str(record[0].message) and "notes.png" in str(record[0].message)
    assert len(ds) == 2 and ds.classes == ["ants", "bees"]


def test_truncated_image_never_crashes_an_epoch(tmp_path):
    from torchvision import transforms as T
    good = make_image(tmp_path / "ants" / "a.jpg", size=(64, 64))
    make_image(tmp_path / "bees" / "b.jpg", size=(64, 64))
    make_image(tmp_path / "bees" / "c.jpg", size=(64, 64))
    bad = tmp_path / "bees" / "truncated.jpg"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.warns(UserWarning, match="truncated.jpg"):  # caught when the dataset is built
        ds = image_folder(tmp_path, transform=T.Compose([T.Resize((32, 32)), T.ToTensor()]))
    assert len(ds) == 3
    # a file that goes bad after the dataset was built is skipped during the epoch, with one warning
    later = tmp_path / "bees" / "c.jpg"
    later.write_bytes(b"\xff\xd8garbage")
    with pytest.warns(UserWarning, match="c.jpg"):
        batches = list(DataLoader(ds, batch_size=2))
    assert sum(len(y) for _, y in batches) == len(ds)
    with warnings.catch_warnings():  # warned once, not every epoch
        warnings.simplefilter("error")
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


def test_csv_without_header_columns_is_an_error(tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,class\na.jpg,cat\n")
    with pytest.raises(ValueError, match="'file' and 'label'"):
        image_csv(csv_path)


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    make_image(tmp_path / "a" / "1.jpg")
    f = make_image(tmp_path / "b" / "1.jpg")
    before = image_folder(tmp_path).fingerprint()
    make_image(f, size=(50, 50))
    assert image_folder(tmp_path).fingerprint() != before
