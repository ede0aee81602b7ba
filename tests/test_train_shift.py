"""`tlcourse train` when validation photos differ from the training ones: the gap named, `--groups`, the robustness
report, and `tlcourse predict --adapt-bn`."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tlcourse import images
from tlcourse.recipe import gap, groups, robustness
from tlcourse.recipe.features import Features, SplitFeatures

from .test_train_cli import make_photos, run


def make_subjects(root, *, subjects: int, copies: int, seed: int, names=("left", "right")):
    """Photos of `subjects` subjects (a colour and a stripe pattern each), `copies` near copies of each, in class
    folders whose class has nothing to do with the look: only a subject seen before can be recognised."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(subjects) % len(names))
    for s in range(subjects):
        colour = rng.integers(30, 225, 3)
        period, vertical = int(rng.integers(4, 16)), bool(rng.integers(2))
        ramp = np.arange(80 if vertical else 60) // period % 2
        stripes = np.tile(ramp, (60, 1)) if vertical else np.tile(ramp[:, None], (1, 80))
        base = colour * (0.6 + 0.4 * stripes[..., None])
        folder = root / names[labels[s]]
        folder.mkdir(parents=True, exist_ok=True)
        for c in range(copies):
            pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"s{seed}x{s:02d}_{c}.jpg")
    return root


def test_a_gap_from_near_copies_is_named_and_groups_close_it(tmp_path, tmp_data, capsys):
    make_subjects(tmp_path / "photos" / "train", subjects=12, copies=4, seed=1)
    make_subjects(tmp_path / "photos" / "val", subjects=8, copies=3, seed=2)
    common = ["--fine-tune", "auto", "--epochs", "1", "--no-robustness", "--quiet", "--device", "cpu"]
    code, out, _ = run(["train", str(tmp_path / "photos"), "--out", str(tmp_path / "plain"), *common], capsys)
    assert code == 0
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert plain["gap"]["named"] and "gap: the validation photos score" in out and "--groups" in out
    assert plain["gap"]["cv_estimate"] - plain["val_accuracy"] > plain["gap"]["threshold"]
    code, out, _ = run(
        ["train", str(tmp_path / "photos"), "--out", str(tmp_path / "grouped"), "--groups", r"^(s\d+x\d+)_", *common],
        capsys,
    )
    grouped = json.loads((tmp_path / "grouped" / "metrics.json").read_text())
    assert code == 0 and grouped["data"]["groups"] == 12 and "group cross-validation" in grouped["choice"]["method"]
    # Folds that keep each subject whole stop grading photos whose near copies were trained on: the estimate falls.
    assert grouped["gap"]["cv_estimate"] < plain["gap"]["cv_estimate"] - 0.25
    assert not grouped["gap"]["named"]


def _features(train: torch.Tensor, val: torch.Tensor) -> Features:
    """Two classes of pooled features, half each."""
    return Features(SplitFeatures(torch.arange(len(train)) % 2, train), SplitFeatures(torch.arange(len(val)) % 2, val))


def test_the_shift_check_tells_alike_sets_from_different_ones():
    g = torch.Generator().manual_seed(0)
    train, val = torch.randn(120, 16, generator=g), torch.randn(60, 16, generator=g)
    alike = gap.set_difference(_features(train, val), ["a", "b"])
    assert abs(alike.auc - 0.5) < 3 * alike.null_sd and not alike.differs
    moved = gap.set_difference(_features(train, val + 1.0), ["a", "b"])
    assert moved.differs and moved.auc > 0.9 and all(auc > 0.8 for auc in moved.per_class.values())


def test_near_copies_among_training_photos_are_noticed():
    g = torch.Generator().manual_seed(0)
    subjects = torch.randn(20, 32, generator=g)
    train = subjects.repeat_interleave(4, 0) + 0.05 * torch.randn(80, 32, generator=g)
    assert gap.near_copies(train, torch.randn(30, 32, generator=g)).suspected
    assert not gap.near_copies(torch.randn(80, 32, generator=g), torch.randn(30, 32, generator=g)).suspected


def test_groups_from_file_names_and_from_a_csv_column(tmp_path):
    make_photos(tmp_path / "tree", per_class=4)
    photos = images.image_folder(tmp_path / "tree")
    assert groups.photo_groups(photos, r"^([a-z]+)\d", csv_path=None, image_dir=None)[:4] == ["blue"] * 4
    with pytest.raises(Exception, match=r"does not match the file name blue0\.jpg"):
        groups.photo_groups(photos, r"^zzz", csv_path=None, image_dir=None)
    rows = ["file,label,patient"] + [
        f"{p.parent.name}/{p.name},{p.parent.name},p{i // 2}" for i, (p, _) in enumerate(photos.samples)
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    from_csv = images.image_csv(tmp_path / "labels.csv", tmp_path / "tree")
    found = groups.photo_groups(from_csv, "patient", csv_path=tmp_path / "labels.csv", image_dir=tmp_path / "tree")
    assert len(set(found)) == 6 and found.count("p0") == 2


def test_a_group_split_keeps_every_group_on_one_side(tmp_path):
    make_photos(tmp_path / "tree", per_class=8)
    photos = images.image_folder(tmp_path / "tree")
    pairs = [f"{p.parent.name}{i // 2}" for i, (p, _) in enumerate(photos.samples)]  # two photos per subject
    train, val = groups.group_split(photos, pairs, 0.25, seed=0)
    side = {}
    for part, name in ((train, "train"), (val, "val")):
        for path, _ in part.samples:
            side.setdefault(pairs[[p for p, _ in photos.samples].index(path)], set()).add(name)
    assert all(len(sides) == 1 for sides in side.values()) and len(val) >= 4 and set(val.targets) == {0, 1, 2}


def test_robustness_report_and_predict_adapt_bn(tmp_path, tmp_data, capsys):
    photos = make_photos(tmp_path / "photos", per_class=8)
    out = tmp_path / "out"
    code, stdout, _ = run(["train", str(photos), "--out", str(out), "--fine-tune", "none", "--quiet"], capsys)
    assert code == 0 and "robustness on" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    report = metrics["robustness"]
    assert [s["shift"] for s in report["shifted"]] == ["noise-2", "blur-2", "jpeg-2"]
    assert report["photos"] == 6 and report["adabn"]["train_photos"] == 18 and "robustness.png" in metrics["figures"]
    assert "robustness" in metrics["seconds"] and (out / robustness.ADAPT_FILE).is_file()
    every = sorted(str(p) for p in photos.glob("*/*.jpg"))
    code, _, err = run(["predict", str(out / "model.pt"), *every[:5], "--adapt-bn"], capsys)
    assert code == 2 and "at least 16 photos" in err
    code, stdout, _ = run(["predict", str(out / "model.pt"), *every, "--adapt-bn", "-k", "1"], capsys)
    lines = stdout.splitlines()
    assert code == 0 and lines[0].startswith("adapted to 24 photos") and len(lines) == 25
    hits = [line.rsplit(": ", 1)[1].split()[0] == line.split("/")[-2] for line in lines[1:]]
    assert np.mean(hits) >= 0.9  # three plain colours, a mixed batch: the adapted probe still tells them apart
    code, _, _ = run(
        ["train", str(photos), "--out", str(out), "--fine-tune", "none", "--quiet", "--overwrite", "--no-robustness"],
        capsys,
    )
    assert code == 0 and not (out / robustness.ADAPT_FILE).exists()  # no stale adaptation beside a new model
    code, _, err = run(["predict", str(out / "model.pt"), *every, "--adapt-bn"], capsys)
    assert code == 2 and "No adapt_bn.pt" in err
