"""The course's datasets: where each lives, where it comes from, what a complete copy looks like, how to load it."""
from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from . import download as dl
from .errors import ChecksumError, DatasetMissingError
from .images import ImageFiles, image_folder
from .paths import data_root

MANIFESTS = Path(__file__).parent / "manifests"


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry: enough to find, fetch, check and load a dataset."""

    name: str
    folder: str
    description: str
    source: str
    splits: dict[str, int]  # split -> expected number of items in a complete copy
    archive_checksum: str | None = None  # "sha256:<hex>" or "md5:<hex>" of the downloaded archive
    archive_subfolder: str | None = None  # folder inside the archive that becomes `folder`
    manifest: str | None = None  # sha256sum file (in tlcourse/manifests) of every file in a complete copy
    offline: bool = True  # False: torchvision downloads it, only with a network
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """Where the dataset lives under the data root."""
        return data_root() / self.folder


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("hymenoptera", "hymenoptera_data", "ants vs bees photos (PyTorch transfer-learning tutorial)",
                    "https://download.pytorch.org/tutorial/hymenoptera_data.zip", {"train": 245, "val": 153},
                    archive_subfolder="hymenoptera_data", manifest="hymenoptera_data.sha256"),
        DatasetSpec("digits", "", "8x8 handwritten digits bundled with scikit-learn", "scikit-learn (bundled)",
                    {"train": 1078, "val": 359, "test": 360}),
        DatasetSpec("sst2", "sst2", "Stanford Sentiment Treebank, binary (GLUE SST-2)",
                    "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip", {"train": 67349, "dev": 872, "test": 1821},
                    archive_checksum="md5:9f81648d4199384278b86e315dac217c", archive_subfolder="SST-2"),
        DatasetSpec("cifar10", "cifar10", "CIFAR-10, 32x32 photos in 10 classes (torchvision)",
                    "torchvision.datasets.CIFAR10", {"train": 50000, "test": 10000}, offline=False,
                    extra={"marker": "cifar-10-batches-py"}),
        DatasetSpec("flowers102", "flowers102", "Oxford 102 flower categories (torchvision)",
                    "torchvision.datasets.Flowers102", {"train": 1020, "val": 1020, "test": 6149}, offline=False,
                    extra={"marker": "flowers-102"}),
        DatasetSpec("oxford_pets", "oxford_pets", "Oxford-IIIT Pet, 37 cat and dog breeds (torchvision)",
                    "torchvision.datasets.OxfordIIITPet", {"trainval": 3680, "test": 3669}, offline=False,
                    extra={"marker": "oxford-iiit-pet"}),
    ]
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for `name`, or an error listing the known names."""
    if name not in REGISTRY:
        raise KeyError(f"Unknown dataset {name!r}. Known datasets: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def missing_error(spec: DatasetSpec) -> DatasetMissingError:
    """The message a learner sees when a dataset is absent: what, where, and the command that fixes it."""
    return DatasetMissingError(
        f"Dataset {spec.name!r} is not in {spec.path}. Fix: run `tlcourse download {spec.name}` "
        f"(needs a network; source: {spec.source}), or, in an offline classroom, copy the prepared data/ "
        f"folder from your instructor there (or point ${'TLCOURSE_DATA'} at it)."
    )


# ---------------------------------------------------------------------------------------------- what is present
def count_items(spec: DatasetSpec) -> dict[str, int]:
    """How many items each split has on disk now (0 where absent)."""
    if spec.name == "digits":
        return dict(spec.splits)  # shipped inside scikit-learn
    if spec.name == "hymenoptera":
        return {s: sum(1 for p in (spec.path / s).glob("*/*") if p.is_file()) if (spec.path / s).is_dir() else 0
                for s in spec.splits}
    if spec.name == "sst2":
        return {s: _count_rows(spec.path / f"{s}.tsv") for s in spec.splits}
    present = (spec.path / spec.extra["marker"]).exists()
    return {s: n if present else 0 for s, n in spec.splits.items()}


def _count_rows(path: Path) -> int:
    """Data rows of a tsv file (header excluded), 0 if absent."""
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8") as f:
        return max(sum(1 for _ in f) - 1, 0)


def is_complete(spec: DatasetSpec) -> bool:
    """True when every split has its expected number of items."""
    return count_items(spec) == spec.splits


def folder_size(path: Path) -> int:
    """Bytes under a folder (following the symlinked mirror)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def verify(name: str) -> tuple[list[str], list[str]]:
    """Check a dataset's files against its SHA-256 manifest: (missing, mismatched)."""
    spec = get_spec(name)
    if not spec.manifest:
        return [], []
    return dl.verify_manifest(spec.path, dl.read_manifest(MANIFESTS / spec.manifest))


# ---------------------------------------------------------------------------------------------- downloading
def download_dataset(name: str, force: bool = False, progress: bool = True) -> Path:
    """Fetch a dataset from its official source into the data root, verifying checksums before use."""
    spec = get_spec(name)
    if name == "digits":
        return data_root()
    if is_complete(spec) and not force:
        return spec.path
    if not spec.offline:
        return _torchvision_download(spec)
    with tempfile.TemporaryDirectory(dir=_ensure(data_root())) as tmp:
        archive = dl.download(spec.source, Path(tmp) / Path(spec.source).name, progress=progress)
        _check_archive(archive, spec)
        dl.safe_extract(archive, Path(tmp) / "x")
        extracted = Path(tmp) / "x" / (spec.archive_subfolder or "")
        if spec.manifest:
            missing, bad = dl.verify_manifest(extracted, dl.read_manifest(MANIFESTS / spec.manifest))
            if missing or bad:
                raise ChecksumError(f"Download of {name!r} does not match its manifest: missing {missing[:5]}, "
                                    f"mismatched {bad[:5]}. Nothing was installed; retry the download.")
        if force and spec.path.exists():
            shutil.rmtree(spec.path)
        dl.move_into_place(extracted, spec.path)
    return spec.path


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_archive(archive: Path, spec: DatasetSpec) -> None:
    """Compare the archive's digest with the published one; delete it and raise on mismatch."""
    if not spec.archive_checksum:
        return
    algo, expected = spec.archive_checksum.split(":")
    actual = dl.file_digest(archive, algo)
    if actual != expected:
        archive.unlink()
        raise ChecksumError(f"{archive.name} has {algo} {actual}, expected {expected}; deleted, not used.")


def _torchvision_download(spec: DatasetSpec) -> Path:
    """torchvision's own downloader (with its own checksums) for the online-only datasets."""
    import torchvision.datasets as tvd
    root = _ensure(spec.path)
    if spec.name == "cifar10":
        tvd.CIFAR10(root, download=True)
    elif spec.name == "flowers102":
        tvd.Flowers102(root, download=True)
    elif spec.name == "oxford_pets":
        tvd.OxfordIIITPet(root, download=True)
    return root


# ---------------------------------------------------------------------------------------------- loading
def load_dataset(name: str, split: str, transform: Callable | None = None) -> Dataset:
    """The `split` of dataset `name` as a torch Dataset with `.classes`; a clear error if it is not there."""
    spec = get_spec(name)
    if split not in spec.splits:
        raise ValueError(f"Dataset {name!r} has splits {list(spec.splits)}, not {split!r}.")
    if name == "digits":
        return digits(split, transform=transform)
    if name == "sst2":
        raise ValueError("sst2 is text: use tlcourse.text.load_sst2(split).")
    if count_items(spec)[split] == 0:
        raise missing_error(spec)
    if name == "hymenoptera":
        return _hymenoptera(split, transform)
    return _torchvision_dataset(spec, split, transform)


def _hymenoptera(split: str, transform: Callable | None) -> ImageFiles:
    """Ants/bees photos, each file checked against the published SHA-256 manifest first."""
    spec = REGISTRY["hymenoptera"]
    dataset = image_folder(spec.path / split, transform)
    bad = _manifest_mismatches(spec.path, split)
    if bad:
        warnings.warn(f"{len(bad)} file(s) in {spec.path / split} do not match the published checksums and are "
                      f"not used: {', '.join(bad[:10])}. Fix: `tlcourse download hymenoptera --force`.", stacklevel=3)
        dataset = dataset.subset([i for i, (p, _) in enumerate(dataset.samples)
                                  if p.relative_to(spec.path).as_posix() not in bad])
    return dataset


def _manifest_mismatches(root: Path, split: str) -> list[str]:
    """Relative paths in this split whose content differs from the manifest (cached by size and mtime)."""
    manifest = dl.read_manifest(MANIFESTS / REGISTRY["hymenoptera"].manifest)
    bad = []
    for rel, digest in manifest.items():
        path = root / rel
        if rel.startswith(split + "/") and path.is_file():
            stat = path.stat()
            if _cached_sha256(str(path), stat.st_size, stat.st_mtime_ns) != digest:
                bad.append(rel)
    return bad


@lru_cache(maxsize=None)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, remembered while its size and mtime stay the same."""
    return dl.sha256_file(path)


def _torchvision_dataset(spec: DatasetSpec, split: str, transform: Callable | None) -> Dataset:
    """An online-only torchvision dataset already downloaded with `tlcourse download`."""
    import torchvision.datasets as tvd
    if spec.name == "cifar10":
        return tvd.CIFAR10(spec.path, train=split == "train", transform=transform)
    if spec.name == "flowers102":
        return tvd.Flowers102(spec.path, split=split, transform=transform)
    return tvd.OxfordIIITPet(spec.path, split=split, transform=transform)


# ---------------------------------------------------------------------------------------------- digits
class DigitsImages(Dataset):
    """scikit-learn's 8x8 digits as images: (1x8x8 tensor in [0, 1], label), or a PIL image through `transform`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable | None = None):
        self.images, self.labels, self.transform = images, labels, transform
        self.classes = [str(d) for d in sorted(set(labels.tolist()))]
        self.targets = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.images[i]
        if self.transform is not None:
            from PIL import Image
            x = self.transform(Image.fromarray((x[0].numpy() * 255).astype(np.uint8)).convert("RGB"))
        return x, int(self.labels[i])

    def fingerprint(self) -> str:
        """A hash of the pixel values and labels."""
        import hashlib
        return hashlib.sha256(self.images.numpy().tobytes() + self.labels.numpy().tobytes()).hexdigest()[:16]


def digits(split: str = "train", classes=range(10), transform: Callable | None = None,
           relabel: bool = True) -> DigitsImages:
    """A fixed stratified 60/20/20 split of the digits; `classes` picks digits, `relabel` maps them to 0..k-1."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target)
    idx = np.arange(len(y))
    train, rest = train_test_split(idx, test_size=0.4, stratify=y, random_state=0)
    val, test = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=0)
    chosen = {"train": train, "val": val, "test": test}[split]
    keep = [i for i in sorted(chosen) if int(y[i]) in set(classes)]
    labels = y[keep]
    if relabel:
        mapping = {d: i for i, d in enumerate(sorted(set(classes)))}
        labels = torch.tensor([mapping[int(v)] for v in labels])
    ds = DigitsImages(x[keep], labels, transform)
    ds.classes = [str(d) for d in sorted(set(classes))]
    return ds


def as_tensor_dataset(dataset: DigitsImages) -> TensorDataset:
    """Digits as one TensorDataset (fast batching for small CNNs)."""
    return TensorDataset(dataset.images, dataset.labels)


def class_subset(name: str, split: str, classes) -> TensorDataset:
    """The images of `classes` in a small image dataset ("digits" or "cifar10"), as tensors in [0, 1], relabelled 0..k-1.

    One tensor per split, so small CNNs train without decoding a file per image (CIFAR-10: 5,000 images per class
    in "train", 1,000 in "test"; download it first with `tlcourse download cifar10`).
    """
    if name == "digits":
        return as_tensor_dataset(digits(split, classes=classes))
    if name != "cifar10":
        raise ValueError(f"class_subset supports 'digits' and 'cifar10', not {name!r}.")
    source = load_dataset(name, split)
    images = torch.as_tensor(np.asarray(source.data)).permute(0, 3, 1, 2)  # N x 32 x 32 x 3 bytes -> N x 3 x 32 x 32
    return select_classes(images, torch.as_tensor(source.targets), classes)


def select_classes(images: torch.Tensor, labels: torch.Tensor, classes) -> TensorDataset:
    """Keep the examples of `classes`, renumbered in sorted order (classes [7, 3] become 3 -> 0, 7 -> 1); bytes -> [0, 1]."""
    order = sorted({int(c) for c in classes})
    missing = sorted(set(order) - set(labels.unique().tolist()))
    if missing:
        raise ValueError(f"Classes {missing} have no examples; the labels present are {sorted(labels.unique().tolist())}.")
    keep = torch.isin(labels, torch.tensor(order))
    renumber = {c: i for i, c in enumerate(order)}
    kept = images[keep]
    if kept.dtype == torch.uint8:
        kept = kept.float() / 255
    return TensorDataset(kept, torch.tensor([renumber[int(y)] for y in labels[keep]]))


def sample_per_class(labels, k: int | None, seed: int = 0) -> np.ndarray:
    """Indices of `k` examples of every class, drawn without replacement (all indices when k is None).

    The draw depends only on `seed`, so every strategy in a comparison sees the same labelled images.
    """
    labels = np.asarray(labels)
    if k is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if k > len(pool):
            raise ValueError(f"Asked for {k} examples per class, but class {c} has only {len(pool)}.")
        chosen.append(rng.choice(pool, k, replace=False))
    return np.sort(np.concatenate(chosen))
