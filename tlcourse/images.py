"""Image files as a torch Dataset: every photo becomes upright 8-bit RGB; an unusable file is named, not swapped.

One class list serves every split (`image_splits`, `image_folder(..., classes=)`), so a label means the same class
in train and val. Every file is checked once when a dataset is built; at load time an unreadable file is an error
naming it, never silently replaced by another image.

Decoding one file (8-bit, upright, RGB) and telling whether a file is usable live in `decoding`. The three layouts
(class folders, train/val splits, a CSV) and `split` share the class-list checks that keep labels from shifting.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .decoding import IMAGE_EXTENSIONS, MAX_PIXELS, draft_side, file_problem, open_rgb
from .errors import DataFolderError, ImageFileError, SplitMismatchError


def _drop_unusable(
    samples: list[tuple[Path, int]], max_pixels: int, min_side: int | None, extra: Sequence[tuple[Path, str]] = ()
) -> list[tuple[Path, int]]:
    """Keep the usable files; one warning names every file left out (and `extra` ones) with the reason."""
    good, bad = [], list(extra)
    for path, label in samples:
        problem = file_problem(Path(path), max_pixels, min_side)
        if problem is None:
            good.append((path, label))
        else:
            bad.append((Path(path), problem))
    if bad:
        lines = "\n".join(f"  {p}: {why}" for p, why in bad)
        warnings.warn(f"Left out {len(bad)} file(s) that cannot be used (fix or delete them):\n{lines}", stacklevel=3)
    return good


class ImageFiles(Dataset):
    """(image, label) pairs from a list of files; the building block of every image dataset in the course."""

    def __init__(
        self,
        samples: list[tuple[Path, int]],
        classes: list[str],
        transform: Callable | None = None,
        min_side: int | None = 256,
        check_files: bool = True,
        max_pixels: int = MAX_PIXELS,
        left_out: Sequence[tuple[Path, str]] = (),
    ):
        self.classes = list(classes)
        self.transform = transform
        self.min_side = min_side
        self.max_pixels = max_pixels
        if check_files:
            samples = _drop_unusable(samples, max_pixels, min_side, left_out)
        self.samples = [(Path(p), int(y)) for p, y in samples]
        self.targets = [y for _, y in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        """Load one sample; a file that no longer decodes is an error naming it (never another image instead)."""
        path, label = self.samples[index]
        try:
            image = open_rgb(path, draft_side(self.min_side, self.transform))
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageFileError(
                f"{path} could not be read ({err}). It passed the check when the dataset was "
                "built, so it changed since: restore or delete it, then build the dataset again."
            ) from err
        return (self.transform(image) if self.transform else image), label

    def _like(self, samples: list[tuple[Path, int]], transform: Callable | None) -> ImageFiles:
        """Another dataset with these classes and settings, for already-checked samples."""
        return ImageFiles(
            samples, self.classes, transform, self.min_side, check_files=False, max_pixels=self.max_pixels
        )

    def with_transform(self, transform: Callable | None) -> ImageFiles:
        """The same files with another transform (e.g. augmentation for training, none for display)."""
        return self._like(self.samples, transform)

    def subset(self, indices) -> ImageFiles:
        """A dataset holding only the given indices (for few-shot experiments and splits)."""
        return self._like([self.samples[int(i)] for i in indices], self.transform)

    def fingerprint(self) -> str:
        """A hash of file names, sizes, modification times and labels: changes when the data changes."""
        digest = hashlib.sha256(f"min_side={draft_side(self.min_side, self.transform)}\n".encode())
        for path, label in self.samples:
            stat = path.stat()
            digest.update(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}|{label}\n".encode())
        return digest.hexdigest()[:16]

    def class_counts(self) -> dict[str, int]:
        """Number of images per class, in class order."""
        return {c: self.targets.count(i) for i, c in enumerate(self.classes)}

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} images, classes={self.class_counts()})"


def _is_hidden(path: Path, root: Path) -> bool:
    """True for files and folders whose name (or a parent's, below `root`) starts with a dot."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _class_files(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(image files anywhere under `folder`, sorted; other non-hidden files with why they are not used).

    Images in nested sub-folders belong to the class of the top folder (as torchvision's ImageFolder does).
    Symlinks are listed even when dangling, so the check can name them instead of dropping them silently.
    """
    images, others = [], []
    for path in sorted(folder.rglob("*")):
        if _is_hidden(path, folder) or path.is_dir():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            others.append(
                (
                    path,
                    f"not an image file type ({path.suffix or 'no extension'}); "
                    f"use one of {' '.join(IMAGE_EXTENSIONS)}",
                )
            )
    return images, others


def _class_folders(root: Path) -> list[Path]:
    """Non-hidden sub-folders of `root`, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_classes(root: Path, found: dict[str, list[Path]], classes: list[str]) -> None:
    """Raise SplitMismatchError when the folders with images in `root` are not exactly `classes`."""
    extra = sorted(set(found) - set(classes))
    missing = [c for c in classes if not found.get(c)]
    if extra or missing:
        parts = ([f"extra folder(s) {extra}"] if extra else []) + ([f"missing or empty {missing}"] if missing else [])
        raise SplitMismatchError(
            f"{root} has class folders {sorted(c for c in found if found[c])} but the classes are {classes} "
            f"({'; '.join(parts)}). Every split needs one folder with images per class, named as in the training "
            "split, or labels would mean different classes. Fix: rename, add or remove those folders."
        )


def image_folder(
    root: str | os.PathLike,
    transform: Callable | None = None,
    classes: Sequence[str] | None = None,
    min_side: int | None = 256,
    max_pixels: int = MAX_PIXELS,
) -> ImageFiles:
    """An ImageFolder tree (`root/<class>/<image>`): one sub-folder per class, as torchvision expects.

    Without `classes` the class list is the sorted folders that hold images (empty ones are left out with a warning).
    With `classes` (e.g. the training split's) the folders must match them exactly, and label i is classes[i].
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFolderError(f"{root} is not a folder. Expected one sub-folder per class, e.g. {root}/cats/1.jpg.")
    found, others = {}, []
    for folder in _class_folders(root):
        found[folder.name], not_images = _class_files(folder)
        others += not_images
    others += [
        (p, "not inside a class folder") for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")
    ]
    if classes is None:
        for name in [n for n, files in found.items() if not files]:
            warnings.warn(
                f"Class folder {root / name} has no images; it is left out. Add images or remove the folder.",
                stacklevel=2,
            )
        classes = [n for n, files in found.items() if files]
    else:
        _check_classes(root, found, list(classes))
    if len(classes) < 2:
        raise ValueError(f"{root} has {len(classes)} class folder(s) with images; a classifier needs at least 2.")
    samples = [(f, i) for i, c in enumerate(classes) for f in found[c]]
    return ImageFiles(samples, list(classes), transform, min_side, max_pixels=max_pixels, left_out=others)


def image_splits(
    root: str | os.PathLike,
    splits: Sequence[str] = ("train", "val"),
    transform: Callable | None = None,
    classes: Sequence[str] | None = None,
    **options,
) -> dict[str, ImageFiles]:
    """Every split of `root/<split>/<class>/<image>` with ONE class list: the first split's (or `classes`)."""
    root = Path(root)
    missing = [s for s in splits if not (root / s).is_dir()]
    if missing:
        raise DataFolderError(
            f"{root} has no {' or '.join(f'{s}/' for s in missing)} folder (expected {', '.join(splits)}). Fix: create "
            f"{root / missing[0]} with the same class folders as {root / splits[0]}, or load one folder and "
            "divide it with tlcourse.images.split(...)."
        )
    out = {}
    for name in splits:
        out[name] = image_folder(root / name, transform, classes, **options)
        classes = out[name].classes
    return out


def _read_label_rows(csv_path: Path) -> list[tuple[int, str, str]]:
    """(line number, file, label) rows of a `file,label` CSV; a missing header or a file listed twice is an error."""
    if not csv_path.is_file():
        raise DataFolderError(f"{csv_path} does not exist. Fix: give the path of a CSV with columns file,label.")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "label"} <= {n.strip() for n in reader.fieldnames}:
            raise ValueError(f"{csv_path} needs a header with columns 'file' and 'label'; found {reader.fieldnames}.")
        reader.fieldnames = [n.strip() for n in reader.fieldnames]
        rows = [(i + 2, (r["file"] or "").strip(), (r["label"] or "").strip()) for i, r in enumerate(reader)]
    first_line: dict[str, int] = {}
    for line, name, _ in rows:
        if name in first_line:
            raise ValueError(
                f"{csv_path}: {name} is listed twice (lines {first_line[name]} and {line}). "
                "Fix: keep one row per file, so each image has one label."
            )
        first_line[name] = line
    return rows


def image_csv(
    csv_path: str | os.PathLike,
    image_dir: str | os.PathLike | None = None,
    transform: Callable | None = None,
    classes: Sequence[str] | None = None,
    min_side: int | None = 256,
    max_pixels: int = MAX_PIXELS,
) -> ImageFiles:
    """A flat folder of images plus a CSV with `file,label` columns (the other common layout of one's own data).

    Classes are the sorted labels, or `classes` (then a label outside them is an error, never a new class).
    """
    csv_path = Path(csv_path)
    image_dir = Path(image_dir) if image_dir else csv_path.parent
    if not image_dir.is_dir():
        raise DataFolderError(f"{image_dir} is not a folder. Fix: pass the folder that holds the images of {csv_path}.")
    rows = _read_label_rows(csv_path)
    missing = [(line, name) for line, name, _ in rows if not (image_dir / name).is_file()]
    if missing:
        listed = "; ".join(f"line {line}: {name}" for line, name in missing[:10])
        warnings.warn(
            f"{csv_path}: {len(missing)} row(s) name files not in {image_dir} and are skipped ({listed}).", stacklevel=2
        )
    listed_names = {name for _, name, _ in rows}
    unlisted = [p.name for p in _class_files(image_dir)[0] if p.relative_to(image_dir).as_posix() not in listed_names]
    if unlisted:
        warnings.warn(
            f"{len(unlisted)} image(s) in {image_dir} have no row in {csv_path} and are not used: "
            f"{', '.join(unlisted[:10])}",
            stacklevel=2,
        )
    found = [(name, label) for _line, name, label in rows if (image_dir / name).is_file()]
    labels = sorted({label for _, label in found})
    if classes is not None:
        unknown = [label for label in labels if label not in classes]
        if unknown:
            raise SplitMismatchError(
                f"{csv_path} has labels {unknown} that are not among the classes {list(classes)}. "
                "Fix: correct those rows, or train with these classes included."
            )
    classes = list(classes) if classes is not None else labels
    if len(classes) < 2:
        raise ValueError(f"{csv_path} has {len(classes)} label(s) with images; a classifier needs at least 2.")
    index = {c: i for i, c in enumerate(classes)}
    return ImageFiles(
        [(image_dir / name, index[label]) for name, label in found], classes, transform, min_side, max_pixels=max_pixels
    )


def split(
    dataset: ImageFiles, val_fraction: float = 0.2, stratify: bool = True, seed: int = 0, test_fraction: float = 0.0
) -> tuple[ImageFiles, ...]:
    """(train, val) or, with `test_fraction`, (train, val, test): disjoint subsets sharing the class list.

    Stratified by default: each class is divided in the same proportions (at least one image per part per class),
    so a small class is never missing from validation. The draw depends only on `seed`.
    """
    fractions = [f for f in (val_fraction, test_fraction) if f > 0]
    if not 0 < val_fraction or sum(fractions) >= 1:
        raise ValueError(
            f"Need 0 < val_fraction and val_fraction + test_fraction < 1; got {val_fraction}, {test_fraction}."
        )
    rng = np.random.default_rng(seed)
    targets = np.asarray(dataset.targets)
    groups = (
        [np.flatnonzero(targets == c) for c in range(len(dataset.classes))] if stratify else [np.arange(len(targets))]
    )
    parts: list[list[int]] = [[] for _ in range(1 + len(fractions))]
    for group_index, group in enumerate(groups):
        order = rng.permutation(group)
        sizes = [max(1, round(len(order) * f)) for f in fractions]
        if len(order) - sum(sizes) < 1:
            name = dataset.classes[group_index] if stratify else "the dataset"
            raise ValueError(
                f"Class {name!r} has {len(order)} image(s): too few to put at least one in each of "
                f"{len(sizes) + 1} parts. Fix: add images of {name!r}, or leave it out."
            )
        cuts = np.cumsum([len(order) - sum(sizes), *sizes])
        for part, chunk in zip(parts, np.split(order, cuts[:-1])):
            part += chunk.tolist()
    return tuple(dataset.subset(sorted(part)) for part in parts)
