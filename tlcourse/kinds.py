"""Kinds of dataset: each knows how to count, fetch, verify and load an entry of the registry (`data.REGISTRY`).

A registry entry says *which* dataset (name, folder, source, expected counts); its kind says *how*: an image folder
checked against a SHA-256 manifest, a table of text, a torchvision downloader, or data bundled with a library.
Adding a dataset is one registry line; adding a kind of dataset is one class here.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torch.utils.data import Dataset

from . import download as dl
from .errors import ChecksumError
from .images import ImageFiles, image_folder

if TYPE_CHECKING:
    from .data import DatasetSpec

MANIFESTS = Path(__file__).parent / "manifests"


class DatasetKind:
    """The defaults every kind shares: a folder under the data root, nothing to verify, a plain size."""

    where_label: str | None = None  # shown instead of the folder when the data is not in one (bundled)

    def count(self, spec: DatasetSpec) -> dict[str, int]:
        raise NotImplementedError

    def fetch(self, spec: DatasetSpec, progress: bool) -> Path:
        raise NotImplementedError

    def load(self, spec: DatasetSpec, split: str, transform: Callable | None) -> Dataset:
        raise NotImplementedError

    def verify(self, spec: DatasetSpec) -> tuple[list[str], list[str]]:
        """(missing, mismatched) files against published checksums; kinds without a manifest have none."""
        return [], []


def fetch_archive(spec: DatasetSpec, progress: bool, check: Callable[[Path], None] | None = None) -> Path:
    """Download the archive (verifying its checksum), extract it safely, check it, then move it into place."""
    root = spec.path.parent
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = Path(tmp) / Path(spec.source).name
        dl.download(spec.source, archive, checksum=spec.archive_checksum, progress=progress)
        dl.safe_extract(archive, Path(tmp) / "x")
        extracted = Path(tmp) / "x" / (spec.archive_subfolder or "")
        if check is not None:
            check(extracted)
        if spec.path.exists():
            shutil.rmtree(spec.path)
        dl.move_into_place(extracted, spec.path)
    return spec.path


@dataclass(frozen=True)
class ImageFolderWithManifest(DatasetKind):
    """`<split>/<class>/<image>` folders, every file listed with its SHA-256 in `tlcourse/manifests/<manifest>`."""

    manifest: str  # a file name in tlcourse/manifests (or a full path)

    def count(self, spec: DatasetSpec) -> dict[str, int]:
        return {
            s: sum(1 for p in (spec.path / s).glob("*/*") if p.is_file()) if (spec.path / s).is_dir() else 0
            for s in spec.splits
        }

    def fetch(self, spec: DatasetSpec, progress: bool) -> Path:
        return fetch_archive(spec, progress, check=lambda folder: self._refuse_mismatches(spec, folder))

    def verify(self, spec: DatasetSpec) -> tuple[list[str], list[str]]:
        return dl.verify_manifest(spec.path, self.checksums())

    def checksums(self) -> dict[str, str]:
        return dl.read_manifest(MANIFESTS / self.manifest)

    def _refuse_mismatches(self, spec: DatasetSpec, folder: Path) -> None:
        missing, bad = dl.verify_manifest(folder, self.checksums())
        if missing or bad:
            raise ChecksumError(
                f"Download of {spec.name!r} does not match its manifest: missing {missing[:5]}, "
                f"mismatched {bad[:5]}. Nothing was installed; retry the download."
            )

    def load(self, spec: DatasetSpec, split: str, transform: Callable | None) -> ImageFiles:
        """The split's images, leaving out (with one warning) any file that differs from the published checksum."""
        dataset = image_folder(spec.path / split, transform)
        bad = [
            rel
            for rel, digest in self.checksums().items()
            if rel.startswith(split + "/")
            and (spec.path / rel).is_file()
            and dl.sha256_while_unchanged(spec.path / rel) != digest
        ]
        if bad:
            warnings.warn(
                f"{len(bad)} file(s) in {spec.path / split} do not match the published checksums and are "
                f"not used: {', '.join(bad[:10])}. Fix: `tlcourse download {spec.name} --force`.",
                stacklevel=4,
            )
            dataset = dataset.subset(
                [i for i, (p, _) in enumerate(dataset.samples) if p.relative_to(spec.path).as_posix() not in bad]
            )
        return dataset


class SentenceTable(Dataset):
    """(sentence, label) pairs of a text classification split; `.sentences`, `.targets`, `.classes`."""

    def __init__(self, sentences: list[str], labels: list[int], classes: list[str]):
        self.sentences, self.targets, self.classes = sentences, labels, classes

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.sentences[i], self.targets[i]


@dataclass(frozen=True)
class TextTable(DatasetKind):
    """One tab-separated file per split with a header: a `label` column and a text column (first of `text_columns`)."""

    classes: tuple[str, ...]
    text_columns: tuple[str, ...] = ("sentence", "content")

    def count(self, spec: DatasetSpec) -> dict[str, int]:
        return {s: _data_rows(spec.path / f"{s}.tsv") for s in spec.splits}

    def fetch(self, spec: DatasetSpec, progress: bool) -> Path:
        return fetch_archive(spec, progress)

    def load(self, spec: DatasetSpec, split: str, transform: Callable | None) -> SentenceTable:
        """Read the split's columns by header name; GLUE's unlabelled test split gets a clear message."""
        path = spec.path / f"{split}.tsv"
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            fields = reader.fieldnames or []
            text_col = next((c for c in self.text_columns if c in fields), None)
            if text_col is None or "label" not in fields:
                raise ValueError(
                    f"{path} needs a 'label' column and one of {list(self.text_columns)}; found "
                    f"{fields}. GLUE's own test split has no labels: evaluate on 'dev' instead."
                )
            rows = list(reader)
        sentences = [transform(r[text_col]) if transform else r[text_col] for r in rows]
        return SentenceTable(sentences, [int(r["label"]) for r in rows], list(self.classes))


def _data_rows(path: Path) -> int:
    """Data rows of a tsv file (header excluded), 0 if absent."""
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8") as f:
        return max(sum(1 for _ in f) - 1, 0)


@dataclass(frozen=True)
class TorchvisionDownload(DatasetKind):
    """An online-only dataset fetched by torchvision's own downloader (with its own checksums)."""

    dataset_class: str  # e.g. "CIFAR10"
    marker: str  # a folder torchvision creates when the download is complete
    split_argument: Callable[[str], dict]  # split name -> keyword arguments of the dataset class

    def count(self, spec: DatasetSpec) -> dict[str, int]:
        present = (spec.path / self.marker).exists()
        return {s: n if present else 0 for s, n in spec.splits.items()}

    def fetch(self, spec: DatasetSpec, progress: bool) -> Path:
        spec.path.mkdir(parents=True, exist_ok=True)
        self._class()(spec.path, download=True)
        return spec.path

    def load(self, spec: DatasetSpec, split: str, transform: Callable | None) -> Dataset:
        return self._class()(spec.path, transform=transform, **self.split_argument(split))

    def _class(self) -> type:
        import torchvision.datasets

        return getattr(torchvision.datasets, self.dataset_class)


@dataclass(frozen=True)
class Bundled(DatasetKind):
    """Data that ships inside an installed library (nothing to download); `loader(split, transform)` builds a split."""

    loader: Callable[[str, Callable | None], Dataset]
    where_label: str = "bundled"

    def count(self, spec: DatasetSpec) -> dict[str, int]:
        return dict(spec.splits)

    def fetch(self, spec: DatasetSpec, progress: bool) -> Path:
        return spec.path

    def load(self, spec: DatasetSpec, split: str, transform: Callable | None) -> Dataset:
        return self.loader(split, transform)
