"""`make bench`: each figure a ratio of two things measured side by side in this run. Writes results/<device>.json."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import course, data, features, models, runtime, train

sys.path.insert(0, str(Path(__file__).parent))  # pipeline.py beside this file, however bench.py is started
from pipeline import bench_photo_pipeline, cold_store  # noqa: E402

OUT = Path(__file__).parent / "results"


def small_cnn() -> nn.Module:
    """A small conv net: enough arithmetic per batch that loop overhead is measurable but not dominant."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def manual_loop(model, loader, optimizer, epochs) -> None:
    """The minimal hand-written PyTorch loop fit() is compared with."""
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()


def bench_fit_overhead(repeats: int = 3, epochs: int = 2) -> dict:
    """Images/s of fit() vs the manual loop, same model, data and batch size, alternating runs, median of each."""
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(2048, 3, 32, 32, generator=g), torch.randint(0, 10, (2048,), generator=g))
    loader = DataLoader(ds, batch_size=64, shuffle=True)
    n = len(ds) * epochs
    fit_rates, manual_rates = [], []
    for _ in range(repeats):
        torch.manual_seed(0)
        m = small_cnn()
        t0 = time.perf_counter()
        manual_loop(m, loader, torch.optim.SGD(m.parameters(), lr=0.01), epochs)
        manual_rates.append(n / (time.perf_counter() - t0))
        torch.manual_seed(0)
        m = small_cnn()
        t0 = time.perf_counter()
        train.fit(
            m,
            loader,
            None,
            optimizer=torch.optim.SGD(m.parameters(), lr=0.01),
            epochs=epochs,
            device="cpu",
            progress=False,
        )
        fit_rates.append(n / (time.perf_counter() - t0))
    fit_rate, manual_rate = statistics.median(fit_rates), statistics.median(manual_rates)
    return {
        "fit_images_per_s": fit_rate,
        "manual_images_per_s": manual_rate,
        "ratio": fit_rate / manual_rate,
        "goal": ">= 0.95",
    }


def bench_cached_vs_classic(epochs: int = 10) -> dict:
    """Ants/bees head training for `epochs`: frozen backbone run every epoch vs cached features."""
    device = runtime.pick_device()
    backbone, transform, info, train_set, val_set = course.ants_bees()

    def head(seed=0):
        torch.manual_seed(seed)
        return nn.Linear(info.feature_dim, 2)

    def sgd(params):
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)

    classic = models.load_backbone("efficientnet_lite0")[0]
    for p in classic.parameters():
        p.requires_grad = False
    classic.classifier = head()
    runtime.seed_everything(0)
    t0 = time.perf_counter()
    h_classic = train.fit(
        classic,
        DataLoader(train_set, batch_size=32, shuffle=True),
        DataLoader(val_set, batch_size=64),
        optimizer=sgd(classic.classifier.parameters()),
        epochs=epochs,
        device=device,
        progress=False,
    )
    classic_s = time.perf_counter() - t0

    t0 = time.perf_counter()  # extraction without the cache: paid inside the measured time, learner's cache untouched
    ftr, ytr = features.extract_features(backbone, train_set, info=info, device=device, cache=False, progress=False)
    fva, yva = features.extract_features(backbone, val_set, info=info, device=device, cache=False, progress=False)
    extract_s = time.perf_counter() - t0
    cached = head()
    runtime.seed_everything(0)
    t0 = time.perf_counter()
    h_cached = train.fit(
        cached,
        DataLoader(TensorDataset(ftr, ytr), batch_size=32, shuffle=True),
        DataLoader(TensorDataset(fva, yva), batch_size=64),
        optimizer=sgd(cached.parameters()),
        epochs=epochs,
        device=device,
        progress=False,
    )
    head_s = time.perf_counter() - t0
    return {
        "epochs": epochs,
        "classic_s": classic_s,
        "extract_once_s": extract_s,
        "cached_training_s": head_s,
        "ratio_cold_cache": classic_s / (extract_s + head_s),
        "ratio_warm_cache": classic_s / head_s,
        "classic_val_acc": h_classic.last["val_acc"],
        "cached_val_acc": h_cached.last["val_acc"],
        "acc_difference_points": 100 * abs(h_classic.last["val_acc"] - h_cached.last["val_acc"]),
        "goal": "ratio >= 20, accuracies within 2 points",
    }


def bench_gpu_amp(steps: int = 20, batch: int = 64) -> dict:
    """Fine-tuning images/s with AMP + channels_last vs fp32 on CUDA, for EfficientNet-Lite0 and ResNet-18."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    out = {"gpu": torch.cuda.get_device_name(0)}
    for name in ("efficientnet_lite0", "resnet18"):
        rates = {}
        for mode in ("fp32", "amp_channels_last"):
            model = models.load_backbone(name, pretrained=False)[0].cuda().train()
            x = torch.randn(batch, 3, 224, 224, device="cuda")
            y = torch.randint(0, 1000, (batch,), device="cuda")
            if mode != "fp32":
                model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            ctx = runtime.autocast(torch.device("cuda")) if mode != "fp32" else torch.autocast("cuda", enabled=False)
            for i in range(steps + 5):
                if i == 5:
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                with ctx:
                    loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            torch.cuda.synchronize()
            rates[mode] = steps * batch / (time.perf_counter() - t0)
        out[name] = {**rates, "speedup": rates["amp_channels_last"] / rates["fp32"]}
    return out


def make_five_class_photos(root: Path, per_class: int = 200, seed: int = 0) -> Path:
    """1,000 real-photo JPEGs in 5 classes (ants/bees photos as they are, grey, rotated, inverted, blurred), each a
    different random crop so no two files are the same bytes (the feature cache cannot help)."""
    import random

    from PIL import ImageFilter, ImageOps

    from tlcourse.images import open_rgb

    sources = sorted((data.REGISTRY["hymenoptera"].path).glob("*/*/*.jpg"))
    rng = random.Random(seed)
    looks = {
        "plain": lambda im: im,
        "grey": lambda im: ImageOps.grayscale(im).convert("RGB"),
        "rotated": lambda im: im.rotate(90, expand=True),
        "inverted": ImageOps.invert,
        "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(3)),
    }
    for name, look in looks.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = open_rgb(rng.choice(sources))
            w, h = im.size
            left, top = rng.randint(0, w // 8), rng.randint(0, h // 8)
            look(im.crop((left, top, left + w * 7 // 8, top + h * 7 // 8))).save(root / name / f"{i}.jpg", quality=90)
    return root


def bench_train_recipe() -> dict:
    """`tlcourse train` on 1,000 photos of 5 classes, cold feature cache, default options (fine-tune auto)."""
    import tempfile

    from tlcourse.recipe import TrainConfig, train_recipe

    with tempfile.TemporaryDirectory() as tmp:
        photos = make_five_class_photos(Path(tmp) / "photos")
        with cold_store():  # a cold, throw-away feature cache
            t0 = time.perf_counter()
            result = train_recipe(TrainConfig(data=photos, out=Path(tmp) / "out", progress=False))
            seconds = time.perf_counter() - t0
            assert result is not None  # one process: rank 0
    return {
        "photos": 1000,
        "classes": 5,
        "seconds": seconds,
        "stages_s": result.timings.to_json(),
        "chosen": result.choice.chosen,
        "val_accuracy": result.scores.val_accuracy,
        "goal": "<= 360 s on 2 CPU cores",
    }


# --- `tlcourse train` side by side with the recipes people copy (benchmarks/recipes.py) ------------------------------

SIDE_BY_SIDE = OUT / "side_by_side.json"
# (photo set, recipe, seed) in the order they run: every recipe once on ants/bees first, the cheap ones' other seeds
# next, then the 1,000-photo set; a run cut short keeps every row it finished (the JSON is rewritten after each).
SIDE_BY_SIDE_PLAN = [
    *(("ants-bees", r, 0) for r in ("tlcourse-train", "fastai-fine-tune", "pytorch-tutorial-fixed", "keras-guide")),
    ("ants-bees", "pytorch-tutorial", 0),
    *(("ants-bees", r, s) for s in (1, 2) for r in ("tlcourse-train", "fastai-fine-tune")),
    ("five-class", "tlcourse-train", 0),
    ("five-class", "fastai-fine-tune", 0),
    ("ants-bees", "pytorch-tutorial-fixed", 1),
    ("ants-bees", "keras-guide", 1),
    ("ants-bees", "pytorch-tutorial", 1),
    *(("five-class", r, 0) for r in ("pytorch-tutorial-fixed", "keras-guide", "pytorch-tutorial")),
    ("ants-bees", "pytorch-tutorial-fixed", 2),
    ("ants-bees", "keras-guide", 2),
    ("ants-bees", "pytorch-tutorial", 2),
]


def five_class_splits(root: Path) -> Path:
    """The 1,000-photo set as root/train and root/val (80/20, stratified, seed 0), so every recipe sees one split."""
    import shutil

    from tlcourse import images

    flat = make_five_class_photos(root / "flat")
    train, val = images.split(images.image_folder(flat), 0.2, stratify=True, seed=0)
    for split, part in (("train", train), ("val", val)):
        for path, label in part.samples:
            (root / split / part.classes[label]).mkdir(parents=True, exist_ok=True)
            shutil.move(path, root / split / part.classes[label] / path.name)
    shutil.rmtree(flat)
    return root


def tlcourse_train_row(photos: Path, *, seed: int, tmp: Path) -> dict:
    """`tlcourse train PHOTOS --out OUT --seed SEED` with its default options and a cold feature cache."""
    import tempfile

    from tlcourse.recipe import TrainConfig, train_recipe

    here = Path(tempfile.mkdtemp(dir=tmp))  # this run's own --out
    with cold_store():  # and its own cold, throw-away feature cache
        runtime.seed_everything(seed)
        t0 = time.perf_counter()
        result = train_recipe(TrainConfig(data=photos, out=here / "out", seed=seed, progress=False))
        seconds = time.perf_counter() - t0
        assert result is not None  # one process: rank 0
    return {
        "recipe": "tlcourse train",
        "seed": seed,
        "val_accuracy": result.scores.val_accuracy,
        "seconds": seconds,
        "chosen": result.choice.chosen,
        "stages_s": result.timings.to_json(),
    }


def side_by_side_row(photos: Path, recipe: str, *, seed: int, tmp: Path) -> dict:
    """One recipe, one seed on `photos` (train/ and val/ folders): validation accuracy and wall seconds."""
    import os

    from recipes import RECIPES

    from tlcourse import images

    load = os.getloadavg()
    if recipe == "tlcourse-train":
        row = tlcourse_train_row(photos, seed=seed, tmp=tmp)
    else:
        parts = images.image_splits(photos)
        row = RECIPES[recipe](parts["train"], parts["val"], seed=seed).to_json()
    return {**row, "key": recipe, "load_before": load, "load_after": os.getloadavg()}


def summarise(rows: list[dict]) -> list[dict]:
    """A line per (photo set, recipe): accuracy mean and spread over seeds, mean seconds, ratio to tlcourse train."""
    out = []
    for photo_set in dict.fromkeys(r["photo_set"] for r in rows):
        mine = [r for r in rows if r["photo_set"] == photo_set]
        base = [r["seconds"] for r in mine if r["key"] == "tlcourse-train"]
        for key in dict.fromkeys(r["key"] for r in mine):
            runs = [r for r in mine if r["key"] == key]
            acc, secs = [r["val_accuracy"] for r in runs], [r["seconds"] for r in runs]
            out.append(
                {
                    "photo_set": photo_set,
                    "recipe": runs[0]["recipe"],
                    "seeds": [r["seed"] for r in runs],
                    "val_acc_mean": statistics.mean(acc),
                    "val_acc_min": min(acc),
                    "val_acc_max": max(acc),
                    "seconds_mean": statistics.mean(secs),
                    "time_ratio_to_tlcourse_train": statistics.mean(secs) / statistics.mean(base) if base else None,
                    "seconds_min": min(secs),
                    "fastest_ratio_to_tlcourse_train": min(secs) / min(base) if base else None,
                    "load_1min": [f"{r['load_before'][0]:.1f}–{r['load_after'][0]:.1f}" for r in runs],
                }
            )
    return out


def print_summary(summary: list[dict]) -> None:
    """The side-by-side table as printed at the end of a run."""
    print(f"\n{'photo set':11} {'recipe':44} {'val acc (min-max)':>22} {'seconds':>8} {'x tlcourse':>10}  seeds")
    for s in summary:
        ratio = s["time_ratio_to_tlcourse_train"]
        print(
            f"{s['photo_set']:11} {s['recipe']:44} {s['val_acc_mean']:7.1%} ({s['val_acc_min']:.1%}-"
            f"{s['val_acc_max']:.1%}) {s['seconds_mean']:8.0f} {ratio or float('nan'):10.1f}  {s['seeds']}"
        )


def _times(ratio: float | None) -> str:
    """A time ratio as the table prints it."""
    return "–" if ratio is None else f"{ratio:.1f}×"


def markdown_table(summary: list[dict]) -> str:
    """The side-by-side summary as benchmarks/README.md's table."""
    lines = [
        "| photo set | recipe | val accuracy, mean (min–max) | seconds, mean (× tlcourse train) | fastest run (×) "
        "| seeds | load (1 min, before–after each run) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        ratio, fastest = s["time_ratio_to_tlcourse_train"], s["fastest_ratio_to_tlcourse_train"]
        lines.append(
            f"| {s['photo_set']} | {s['recipe']} | {s['val_acc_mean']:.1%} ({s['val_acc_min']:.1%}–"
            f"{s['val_acc_max']:.1%}) | {s['seconds_mean']:.0f} ({_times(ratio)}) | {s['seconds_min']:.0f} "
            f"({_times(fastest)}) | {', '.join(map(str, s['seeds']))} | {', '.join(s['load_1min'])} |"
        )
    return "\n".join(lines)


def bench_side_by_side(plan=None, *, path: Path = SIDE_BY_SIDE) -> dict:
    """`tlcourse train` and the peer recipes (benchmarks/recipes.py) on the same photos, backbone and val photos; a
    row per (photo set, recipe, seed) in `plan`, the JSON rewritten after each row."""
    import os
    import tempfile

    plan = SIDE_BY_SIDE_PLAN if plan is None else plan
    sets = {"ants-bees": data.REGISTRY["hymenoptera"].path.resolve()}
    rows: list[dict] = []
    result = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads", "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        if any(s == "five-class" for s, _, _ in plan):
            sets["five-class"] = five_class_splits(Path(tmp) / "five-class")
        for photo_set, recipe, seed in plan:
            row = {"photo_set": photo_set, **side_by_side_row(sets[photo_set], recipe, seed=seed, tmp=Path(tmp))}
            rows.append(row)
            print(
                f"{photo_set} {row['recipe']} seed {seed}: val {row['val_accuracy']:.1%}, {row['seconds']:.0f} s, "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            result.update(rows=rows, summary=summarise(rows))
            OUT.mkdir(exist_ok=True)
            path.write_text(json.dumps(result, indent=2))
    print_summary(result.get("summary", []))
    return result


def parse_plan(args: list[str]) -> list[tuple[str, str, int]]:
    """`side-by-side [--sets a,b] [--recipes r,s] [--seeds 0,1] [--out name.json]`: the default plan, filtered."""
    opts = dict(zip(args[::2], args[1::2]))
    keep = {k.lstrip("-"): v.split(",") for k, v in opts.items()}
    return [
        (s, r, n)
        for s, r, n in SIDE_BY_SIDE_PLAN
        if s in keep.get("sets", [s]) and r in keep.get("recipes", [r]) and str(n) in keep.get("seeds", [str(n)])
    ]


def main() -> int:
    torch.manual_seed(0)
    device = runtime.pick_device()
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}",
        "torch": torch.__version__,
        "fit_vs_manual_loop": bench_fit_overhead(),
        "cached_vs_classic": bench_cached_vs_classic(),
        "gpu_amp": bench_gpu_amp(),
        "train_recipe": bench_train_recipe(),
    }
    results["side_by_side"] = bench_side_by_side()["summary"]
    results["photo_pipeline"] = bench_photo_pipeline()  # prints each photo set's stages against the floor
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{device.type}.json"
    path.write_text(json.dumps(results, indent=2))
    f, c = results["fit_vs_manual_loop"], results["cached_vs_classic"]
    print(f"\n{'benchmark':44} {'result':>14}  goal")
    print(
        f"{'fit() / manual loop throughput':44} {f['ratio']:13.3f}x  >= 0.95  "
        f"({f['fit_images_per_s']:.0f} vs {f['manual_images_per_s']:.0f} img/s)"
    )
    print(
        f"{'classic / cached, 10 epochs, cold cache':44} {c['ratio_cold_cache']:13.1f}x  >= 20   "
        f"({c['classic_s']:.0f}s vs {c['extract_once_s']:.0f}s + {c['cached_training_s']:.1f}s)"
    )
    print(f"{'classic / cached, 10 epochs, warm cache':44} {c['ratio_warm_cache']:13.0f}x  >= 20")
    print(
        f"{'val accuracy classic vs cached':44} {c['classic_val_acc']:6.1%} {c['cached_val_acc']:6.1%}  within 2 points"
    )
    r = results["train_recipe"]
    print(
        f"{'tlcourse train, 1,000 photos, 5 classes':44} {r['seconds']:12.0f} s  <= 360 s  (chose {r['chosen']}, "
        f"val {r['val_accuracy']:.1%})"
    )
    gpu = results["gpu_amp"]
    for name in ("efficientnet_lite0", "resnet18"):
        if name in gpu:
            g = gpu[name]
            print(f"{'AMP+channels_last / fp32, ' + name:44} {g['speedup']:13.2f}x  ({gpu['gpu']})")
    if "skipped" in gpu:
        print(f"{'GPU AMP benchmark':44} {'skipped':>14}  ({gpu['skipped']})")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:3] == ["side-by-side", "--table"]:  # the README's table from every side_by_side*.json, rows pooled
        pooled = [row for f in sorted(OUT.glob("side_by_side*.json")) for row in json.loads(f.read_text())["rows"]]
        print(markdown_table(summarise(pooled)))
        sys.exit(0)
    if sys.argv[1:2] == ["pipeline"]:  # the photo pipeline's stages against its floor alone
        bench_photo_pipeline()
        sys.exit(0)
    if sys.argv[1:2] == ["side-by-side"]:
        opts = dict(zip(sys.argv[2::2], sys.argv[3::2]))
        bench_side_by_side(parse_plan(sys.argv[2:]), path=OUT / opts.get("--out", SIDE_BY_SIDE.name))
        sys.exit(0)
    sys.exit(main())
