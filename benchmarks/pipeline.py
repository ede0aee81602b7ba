"""The photo pipeline against its floor: photos/s of each stage of `tlcourse train`'s feature extraction.

Stages, each timed alone on the same photos (the best of two runs, so that a burst of load elsewhere on a shared
machine counts less): reading and decoding; decoding plus the eval transform (resize, crop,
to tensor, normalise); the network's forward pass alone, from tensors already in memory; and the whole extraction as
`tlcourse train` runs it (`feature_store.image_features` to the stage6 maps, cold store) and as
`features.extract_features` runs it (pooled features, no cache). The floor is the slowest stage's rate (the forward
pass when decoding is cheap): the whole extraction cannot beat it on the same cores. Rates are given per wall-clock
second and per CPU-second of this process (both cores added); the shares of the floor use CPU time, which a shared
machine's other processes hardly move (wall-clock shares are printed beside them). Decoding is timed twice: at
full size, and at reduced scale (JPEG draft mode, never below the transform's Resize: `decoding.draft_side`).

Run alone: `python benchmarks/bench.py pipeline` (about 8 minutes on 2 CPU cores); `make bench` runs it too.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import TensorDataset

from tlcourse import data, feature_store, features, images, models
from tlcourse.decoding import draft_side, open_rgb
from tlcourse.recipe.features import CUT

BIG = (2592, 1944)  # a 5-megapixel phone photo


@dataclass(frozen=True)
class Rate:
    """Photos per wall-clock second, and per second of this process's CPU time (both cores' time added): the wall
    rate is what a user waits for; the CPU rate hardly moves when other processes load a shared machine."""

    wall: float
    cpu: float


@dataclass
class PipelineRates:
    """Each stage's rate on one photo set, and the whole extraction's share of the floor."""

    photos: int
    median_width: int
    decode_full: Rate
    decode_reduced: Rate
    transform_full: Rate  # decode at full size + the eval transform
    transform_reduced: Rate  # decode at reduced scale + the eval transform
    forward_maps: Rate  # to the stage6 maps, as tlcourse train caches them
    forward_pooled: Rate  # to the pooled features, as features.extract_features returns them
    train_full: Rate  # the whole extraction of tlcourse train, photos decoded at full size
    train_reduced: Rate  # the same with reduced-scale decoding (what tlcourse train does)
    extract_features: Rate  # features.extract_features, reduced-scale decoding, no cache
    load: float  # 1-minute load average when the set was done

    def floor(self, kind: str = "cpu") -> float:
        """The slowest stage of tlcourse train's extraction (reduced-scale decoding): its `kind` rate."""
        return min(getattr(self.transform_reduced, kind), getattr(self.forward_maps, kind))

    def share_of_floor(self, kind: str = "cpu") -> float:
        """tlcourse train's whole extraction as a share of the floor (CPU rates: steady under load)."""
        return getattr(self.train_reduced, kind) / self.floor(kind)

    def speedup(self, kind: str = "cpu") -> float:
        """Whole extraction, reduced-scale decoding against full-size decoding."""
        return getattr(self.train_reduced, kind) / getattr(self.train_full, kind)


def rate(count: int, work: Callable[[], object], repeats: int = 2) -> Rate:
    """`work` over `count` items: the best of `repeats` runs, in wall-clock and CPU time (the least disturbed by
    other processes on a shared machine, as `timeit` takes the minimum)."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        work()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return Rate(count / wall, count / cpu)


def big_photos(root: Path, count: int = 40) -> Path:
    """`count` ants/bees photos enlarged to 2592x1944 JPEGs (quality 90), in two class folders: phone-sized files."""
    train = data.REGISTRY["hymenoptera"].path / "train"
    sources = [p for name in ("ants", "bees") for p in sorted((train / name).glob("*.jpg"))[::3][: count // 2]]
    for i, src in enumerate(sources):
        folder = root / src.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        open_rgb(src).resize(BIG, Image.Resampling.BICUBIC).save(folder / f"{i}.jpg", quality=90)
    return root


@contextmanager
def cold_store() -> Iterator[None]:
    """An empty, temporary data folder (TLCOURSE_DATA) for the feature store; the old setting restored after."""
    old = os.environ.get("TLCOURSE_DATA")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TLCOURSE_DATA"] = tmp
        try:
            yield
        finally:
            os.environ.pop("TLCOURSE_DATA") if old is None else os.environ.update(TLCOURSE_DATA=old)


def measure(photos: images.ImageFiles, backbone: models.LoadedBackbone) -> PipelineRates:
    """Every stage's rate on `photos` (a fresh temporary feature store for each whole extraction)."""
    model, transform, info = backbone
    n, paths, cpu = len(photos), [p for p, _ in photos.samples], torch.device("cpu")
    side = draft_side(photos.min_side, transform)
    in_memory = TensorDataset(torch.stack([transform(open_rgb(p, side)) for p in paths]), torch.zeros(n))
    full = images.ImageFiles(photos.samples, photos.classes, transform, min_side=None, check_files=False)
    reduced = photos.with_transform(transform)

    def train_extraction(dataset: images.ImageFiles) -> None:
        """feature_store.image_features to the stage6 maps, as tlcourse train calls it, into a cold store."""
        with cold_store():
            feature_store.image_features(model, dataset, CUT, info, pool=False, progress=False)

    def pooled(dataset) -> None:
        """features.extract_features: the pooled features, no cache."""
        features.extract_features(model, dataset, info=info, cache=False, progress=False)

    return PipelineRates(
        photos=n,
        median_width=int(statistics.median(Image.open(p).width for p in paths)),
        decode_full=rate(n, lambda: [open_rgb(p) for p in paths]),
        decode_reduced=rate(n, lambda: [open_rgb(p, side) for p in paths]),
        transform_full=rate(n, lambda: [full[i] for i in range(n)]),
        transform_reduced=rate(n, lambda: [reduced[i] for i in range(n)]),
        forward_maps=rate(n, lambda: features.compute_features(model, in_memory, CUT, info, 32, cpu, False, False)),
        forward_pooled=rate(n, lambda: pooled(in_memory)),
        train_full=rate(n, lambda: train_extraction(full)),
        train_reduced=rate(n, lambda: train_extraction(reduced)),
        extract_features=rate(n, lambda: pooled(reduced)),
        load=os.getloadavg()[0],
    )


def bench_photo_pipeline() -> dict:
    """The stages' rates on big phone-sized JPEGs, photos made as the 1,000-photo bench set is (200 of them: every
    stage is run twice, for the best of two) and the ants/bees validation photos."""
    from bench import make_five_class_photos  # benchmarks/ is on sys.path when bench.py or this file runs

    backbone = models.load_backbone("efficientnet_lite0")
    sets = {}
    with tempfile.TemporaryDirectory() as tmp:
        sets["phone photos, 2592x1944"] = images.image_folder(big_photos(Path(tmp) / "big"))
        five = make_five_class_photos(Path(tmp) / "five", per_class=40)
        sets["bench set's recipe, 200 photos"] = images.image_folder(five)
        sets["ants/bees val"] = images.image_folder(data.REGISTRY["hymenoptera"].path / "val")
        results = {name: measure(photos, backbone) for name, photos in sets.items()}
    for name, r in results.items():
        print_rates(name, r)
    return {
        name: {
            **asdict(r),
            **{f"share_of_floor_{kind}": r.share_of_floor(kind) for kind in ("wall", "cpu")},
            **{f"speedup_{kind}": r.speedup(kind) for kind in ("wall", "cpu")},
        }
        for name, r in results.items()
    }


def print_rates(name: str, r: PipelineRates) -> None:
    """One set's table: each stage in photos/s (wall clock, then CPU time) and its CPU rate as a share of the floor."""
    print(f"\n{name}: {r.photos} photos, median width {r.median_width} px, load {r.load:.1f}")
    print(f"  {'stage':48} {'photos/s':>9} {'per CPU-s':>10} {'of floor':>9}")
    rows = [
        ("read + decode, full size", r.decode_full),
        ("read + decode, reduced scale", r.decode_reduced),
        ("decode + resize/crop/normalise, full size", r.transform_full),
        ("decode + resize/crop/normalise, reduced", r.transform_reduced),
        ("forward pass alone, to the stage6 maps", r.forward_maps),
        ("forward pass alone, to pooled features", r.forward_pooled),
        ("tlcourse train's extraction, full-size decode", r.train_full),
        ("tlcourse train's extraction (reduced scale)", r.train_reduced),
        ("features.extract_features (reduced scale)", r.extract_features),
    ]
    for label, value in rows:
        print(f"  {label:48} {value.wall:9.1f} {value.cpu:10.1f} {value.cpu / r.floor():9.0%}")
    print(
        f"  whole extraction at {r.share_of_floor():.0%} of the floor in CPU time "
        f"({r.share_of_floor('wall'):.0%} on the wall clock); reduced-scale decoding {r.speedup():.2f}x "
        f"({r.speedup('wall'):.2f}x on the wall clock)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    bench_photo_pipeline()
