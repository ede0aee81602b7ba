"""`torchrun --nproc-per-node 2 tlcourse train`: the same choice and accuracy as one process, one set of outputs."""

import json
import os
import sys
from pathlib import Path

import pytest

from tests.test_train_cli import make_photos
from tlcourse import distributed

pytestmark = pytest.mark.slow  # torchrun launches

TLCOURSE = Path(sys.executable).with_name("tlcourse")
OPTIONS = ["--fine-tune", "auto", "--folds", "3", "--epochs", "3", "--val-fraction", "0.34", "--quiet"]
OPTIONS += ["--device", "cpu"]
# A test-only fault: rank 1 dies in the middle of feature extraction (loaded at interpreter start by site).
FAULT = (
    "import os\n"
    "if os.environ.get('RANK') == '1':\n"
    "    import tlcourse.feature_store as fs\n"
    "    def broken(*args, **kwargs):\n"
    "        raise RuntimeError('simulated failure of this rank')\n"
    "    fs.compute_features = broken\n"
)


def train(tmp_path, name, nproc=None, env=None, check=True):
    """Run `tlcourse train` on the test's photos with its own data folder; (metrics or None, the run's report)."""
    out, data = tmp_path / name, tmp_path / f"data-{name}"
    saved = dict(os.environ)
    os.environ.update({"TLCOURSE_DATA": str(data), **(env or {})})
    try:
        args = [str(tmp_path / "photos"), "--out", str(out), *OPTIONS]
        if nproc:
            done = distributed.torchrun(TLCOURSE, "train", *args, nproc=nproc, threads=1, timeout=600, check=check)
        else:
            import subprocess

            done = subprocess.run([str(TLCOURSE), "train", *args], capture_output=True, text=True, timeout=600)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    metrics = out / "metrics.json"
    return (json.loads(metrics.read_text()) if metrics.exists() else None), done


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("torchrun")
    make_photos(tmp / "photos")
    one, _ = train(tmp, "one")
    two, report = train(tmp, "two", nproc=2)
    return tmp, one, two, report


def test_two_processes_make_the_same_choice_and_accuracy_as_one(runs):
    _, one, two, report = runs
    assert one is not None and two is not None, report.stderr[-2000:]
    assert two["chosen"] == one["chosen"]
    val_photos = sum(c["val"] for c in one["data"]["counts"].values())
    assert abs(two["val_accuracy"] - one["val_accuracy"]) <= 1 / val_photos + 1e-9  # within one photo
    assert "shared by 2 processes" in report.stdout and report.stdout.count("wrote ") == 1  # rank 0 speaks once


def test_rank0_alone_writes_one_set_of_outputs(runs):
    tmp, *_ = runs
    written = sorted(p.name for p in (tmp / "two").iterdir())
    assert "model.pt" in written and "metrics.json" in written
    assert not [name for name in written if name.startswith(".") or name.endswith(".tmp")]


def test_a_rank_that_dies_is_named_and_leaves_no_model(runs, tmp_path):
    tmp, *_ = runs
    (tmp_path / "fault").mkdir()
    (tmp_path / "fault" / "sitecustomize.py").write_text(FAULT)
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path / "fault"), os.environ.get("PYTHONPATH")]))
    metrics, done = train(tmp, "crash", nproc=2, env={"PYTHONPATH": pythonpath}, check=False)
    assert done.returncode != 0 and metrics is None
    assert distributed.failed_rank(done.stderr) == 1, done.stderr[-2000:]
    assert not (tmp / "crash" / "model.pt").exists()
