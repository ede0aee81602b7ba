"""`tlcourse train` / `tlcourse predict`: end to end on a tiny dataset the test makes, and every bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from tlcourse import cli, images, models, recipe

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def make_photos(root, per_class=6, classes=COLOURS):
    """Small noisy photos, one colour per class: easy to tell apart, different bytes each."""
    rng = np.random.default_rng(0)
    for name, colour in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (60, 80, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}{i}.jpg")
    return root


def run(argv, capsys):
    """Exit code, stdout and stderr of one CLI call."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fine-tuned run on 3 colours x 6 photos, shared by the tests that read its outputs."""
    root = tmp_path_factory.mktemp("train")
    mp = pytest.MonkeyPatch()
    mp.setenv("TLCOURSE_DATA", str(root / "data"))
    photos = make_photos(root / "photos")
    code = cli.main(
        [
            "train",
            str(photos),
            "--out",
            str(root / "out"),
            "--fine-tune",
            "top",
            "--epochs",
            "3",
            "--val-fraction",
            "0.34",
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    yield code, root
    mp.undo()


def test_train_end_to_end_writes_a_model_that_predicts_what_metrics_say(trained, capsys):
    code, root = trained
    assert code == 0
    out = root / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["chosen"] == "fine-tuned" and metrics["classes"] == ["blue", "green", "red"]
    assert set(metrics["per_class_val_accuracy"]) == set(COLOURS) and metrics["fine_tune"]["epochs_run"] >= 1
    assert {"check_data", "features", "probe", "fine_tune", "total"} <= set(metrics["seconds"])
    assert metrics["data"]["counts"]["red"] == {"train": 4, "val": 2}
    for name in metrics["figures"]:
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.width > 100
    assert "confusion.png" in metrics["figures"] and "learning_curve.png" in metrics["figures"]
    assert metrics["choice"]["method"].startswith("no choice made") and "--fine-tune top" in metrics["why"]
    assert "neither the choice nor any training" in metrics["reported_on"]
    loaded = models.load_model(out / "model.pt")
    assert loaded.classes == metrics["classes"]
    _, val = images.split(images.image_folder(root / "photos"), 0.34, seed=0)
    top1 = [top[0][0] for top in models.predict_images(loaded, [p for p, _ in val.samples], k=1)]
    accuracy = np.mean([c == val.classes[y] for c, (_, y) in zip(top1, val.samples)])
    assert accuracy == pytest.approx(metrics["val_accuracy"])  # the checkpoint is the model that was evaluated
    code, stdout, _ = run(["predict", str(out / "model.pt"), str(val.samples[0][0]), "-k", "2"], capsys)
    assert code == 0 and stdout.count("%") == 2 and val.samples[0][0].name in stdout


def test_an_out_folder_holding_a_model_is_never_overwritten(trained, capsys):
    _, root = trained
    before = (root / "out" / "model.pt").read_bytes()
    code, _, err = run(["train", str(root / "photos"), "--out", str(root / "out"), "--quiet"], capsys)
    assert code == 2 and "--overwrite" in err and err.count("\n") == 1
    assert (root / "out" / "model.pt").read_bytes() == before


def _one_line_error(argv, capsys, *needles):
    code, _, err = run(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_bad_inputs_are_one_line_errors(tmp_path, tmp_data, capsys):
    out = str(tmp_path / "out")
    _one_line_error(["train", str(tmp_path / "nowhere"), "--out", out], capsys, "does not exist")
    _one_line_error(["train", "--out", out], capsys, "Give DATA")
    _one_line_error(["train", str(tmp_path), "--csv", str(tmp_path / "x.csv"), "--out", out], capsys, "not both")
    (tmp_path / "labels.csv").write_text("path,class\na.jpg,cat\n")
    _one_line_error(["train", "--csv", str(tmp_path / "labels.csv"), "--out", out], capsys, "'file' and 'label'")
    make_photos(tmp_path / "one", classes={"red": COLOURS["red"]})
    _one_line_error(["train", str(tmp_path / "one"), "--out", out], capsys, "at least 2")
    make_photos(tmp_path / "single", per_class=3)
    for p in list((tmp_path / "single" / "blue").iterdir())[1:]:
        p.unlink()
    _one_line_error(["train", str(tmp_path / "single"), "--out", out], capsys, "'blue' has 1 image")
    make_photos(tmp_path / "tree" / "train", per_class=2)
    make_photos(tmp_path / "tree" / "val", per_class=2, classes={"red": (1, 2, 3), "green": (4, 5, 6)})
    _one_line_error(["train", str(tmp_path / "tree"), "--out", out], capsys, "missing or empty ['blue']")
    _one_line_error(
        ["train", str(tmp_path / "tree"), "--out", str(tmp_path / "tree" / "model")], capsys, "inside the photo folder"
    )
    (tmp_path / "notes.pt").write_text("not a model")
    _one_line_error(
        ["predict", str(tmp_path / "notes.pt"), str(tmp_path / "one" / "red" / "red0.jpg")],
        capsys,
        "not a tlcourse model",
    )
    assert not (tmp_path / "out").exists()  # nothing written for bad input


def test_csv_layout_trains_too(tmp_path, tmp_data, capsys):
    make_photos(tmp_path / "tree", per_class=4)
    flat = tmp_path / "flat"
    flat.mkdir()
    rows = ["file,label"]
    for p in sorted((tmp_path / "tree").rglob("*.jpg")):
        (flat / p.name).write_bytes(p.read_bytes())
        rows.append(f"{p.name},{p.parent.name}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    code, stdout, err = run(
        [
            "train",
            "--csv",
            str(tmp_path / "labels.csv"),
            "--images",
            str(flat),
            "--out",
            str(tmp_path / "out"),
            "--fine-tune",
            "none",
            "--quiet",
            "--val-fraction",
            "0.25",
        ],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["chosen"] == "probe" and "--fine-tune none" in metrics["why"] and metrics["fine_tune"] is None
    assert "val accuracy" in stdout


def _train_auto(photos, out, capsys):
    """`tlcourse train` with --fine-tune auto on a train/ + val/ tree; its metrics."""
    argv = ["train", str(photos), "--out", str(out), "--epochs", "2", "--folds", "3", "--quiet", "--device", "cpu"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    return json.loads((out / "metrics.json").read_text())


def test_auto_chooses_by_cross_validation_on_the_training_photos_and_never_reads_val(tmp_path, tmp_data, capsys):
    make_photos(tmp_path / "photos" / "train", per_class=6)
    make_photos(tmp_path / "photos" / "val", per_class=2)
    first = _train_auto(tmp_path / "photos", tmp_path / "out1", capsys)
    choice = first["choice"]
    assert choice["folds"] == 3 and "18 training photos" in choice["method"]
    for name in ("probe", "fine-tuned"):
        scores = choice["candidates"][name]
        assert len(scores["fold_accuracy"]) == 3 and scores["mean"] == pytest.approx(np.mean(scores["fold_accuracy"]))
        assert scores["std"] == pytest.approx(np.std(scores["fold_accuracy"], ddof=1))
    diff = choice["difference"]
    assert diff["threshold"] == pytest.approx(recipe.NOISE_SE * diff["standard_error"])
    wins = diff["mean"] > max(0.0, diff["threshold"])
    assert first["chosen"] == ("fine-tuned" if wins else "probe") and "cross-validation" in first["why"]
    assert first["val_accuracy"] == 1.0  # colours are easy: the kept model gets the unseen photos right
    # The same training photos with every val photo mislabelled (the class folders rotated): the choice, made on
    # the training photos alone, is the same to the last fold; only the reported number sees the change.
    for old, new in (("red", "tmp"), ("green", "red"), ("blue", "green"), ("tmp", "blue")):
        (tmp_path / "photos" / "val" / old).rename(tmp_path / "photos" / "val" / new)
    second = _train_auto(tmp_path / "photos", tmp_path / "out2", capsys)
    assert second["choice"] == choice and second["chosen"] == first["chosen"]
    assert second["val_accuracy"] == 0.0


def test_fine_tuning_is_kept_only_beyond_the_noise():
    steady = recipe.summarise_folds(probe=[0.90, 0.91, 0.92], fine_tuned=[0.95, 0.96, 0.97], photos=90)
    assert recipe.choose(steady, "auto").chosen == "fine-tuned"  # +5 points on every fold: beyond the noise
    noisy = recipe.summarise_folds(probe=[0.90, 0.95, 0.90], fine_tuned=[0.98, 0.90, 0.93], photos=90)
    assert noisy.difference.mean > 0 and recipe.choose(noisy, "auto").chosen == "probe"  # ahead, within the noise
    tie = recipe.summarise_folds(probe=[0.9, 0.9], fine_tuned=[0.9, 0.9], photos=60)
    assert recipe.choose(tie, "auto").chosen == "probe"  # a tie keeps the simpler model
    assert recipe.choose(None, "auto").chosen == "probe" and recipe.choose(None, "top").chosen == "fine-tuned"
