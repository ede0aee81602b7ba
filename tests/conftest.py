"""Shared fixtures: small files the tests make themselves, and an isolated data root."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from PIL import Image

from tlcourse.paths import data_root

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["TLCOURSE_PROGRESS"] = "0"  # tests run checks by the hundred: none of it is a learner's progress
torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture
def tmp_data(tmp_path, monkeypatch):
    """An empty data root, so tests never touch the real data/ folder."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("TLCOURSE_DATA", str(root))
    return root


def skip_without_data(reason: str) -> None:
    """Skip with the reason; fail instead where TLCOURSE_REQUIRE_DATA=1 (CI sets it: a missing mirror is an error)."""
    if os.environ.get("TLCOURSE_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (TLCOURSE_REQUIRE_DATA=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_data():
    """The real data root; tests that need the ants/bees photos skip with a reason if it is absent."""
    root = data_root()
    if not (root / "hymenoptera_data" / "val").is_dir():
        skip_without_data(f"ants/bees photos not in {root}: run `tlcourse download hymenoptera`")
    return root


@pytest.fixture(scope="session")
def sst2_data():
    """SST-2 in the data root; tests that need it skip with a reason if it is absent."""
    from tlcourse import data

    if not data.is_complete(data.REGISTRY["sst2"]):
        skip_without_data(f"SST-2 not in {data_root()}: run `tlcourse download sst2`")


def make_image(path, mode="RGB", size=(40, 30), fmt=None):
    """Write a small image in a given colour mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"RGB": (200, 30, 30), "L": 128, "CMYK": (0, 255, 255, 0), "RGBA": (10, 200, 10, 128), "P": 3}[mode]
    Image.new(mode, size, color).save(path, format=fmt)
    return path


@pytest.fixture
def no_warnings_expected():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
