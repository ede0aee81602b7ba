"""Image files as a torch Dataset: any photo becomes RGB, and a broken file is skipped, never crashing an epoch."""
from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def open_rgb(path: str | os.PathLike, min_side: int | None = None) -> Image.Image:
    """Decode an image as RGB (palette, grayscale, CMYK, RGBA all converted); JPEG decoded at reduced scale if allowed."""
    with Image.open(path) as img:
        if min_side and img.format == "JPEG":
            img.draft("RGB", (min_side, min_side))  # decode at 1/2, 1/4 or 1/8 scale: much faster for big photos
        if img.mode in ("P", "LA", "RGBA", "PA") or "transparency" in img.info:
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        return img.convert("RGB")


def is_readable_image(path: Path) -> bool:
    """Cheap check at dataset build time: empty files and non-images are caught before training."""
    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as img:
            img.verify()
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


class ImageFiles(Dataset):
    """(image, label) pairs from a list of files; the building block of every image dataset in the course."""

    def __init__(self, samples: list[tuple[Path, int]], classes: list[str], transform: Callable | None = None,
                 min_side: int | None = 256, check_files: bool = True):
        self.classes = list(classes)
        self.transform = transform
        self.min_side = min_side
        if check_files:
            samples = _drop_unreadable(samples)
        self.samples = [(Path(p), int(y)) for p, y in samples]
        self.targets = [y for _, y in self.samples]
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        """Load one sample; a file that fails to decode is reported once and replaced by the next one."""
        for offset in range(len(self.samples)):
            path, label = self.samples[(index + offset) % len(self.samples)]
            try:
                image = open_rgb(path, self.min_side)
            except (OSError, SyntaxError, ValueError) as err:
                if path not in self._warned:
                    self._warned.add(path)
                    warnings.warn(f"Skipping unreadable image {path} ({err}); delete or replace it.", stacklevel=2)
                continue
            return (self.transform(image) if self.transform else image), label
        raise RuntimeError("No readable image in this dataset.")

    def with_transform(self, transform: Callable | None) -> ImageFiles:
        """The same files with another transform (e.g. augmentation for training, none for display)."""
        return ImageFiles(self.samples, self.classes, transform, self.min_side, check_files=False)

    def subset(self, indices) -> ImageFiles:
        """A dataset holding only the given indices (for few-shot experiments)."""
        return ImageFiles([self.samples[i] for i in indices], self.classes, self.transform, self.min_side,
                          check_files=False)

    def fingerprint(self) -> str:
        """A hash of file names, sizes, modification times and labels: changes when the data changes."""
        digest = hashlib.sha256(f"min_side={self.min_side}\n".encode())
        for path, label in self.samples:
            stat = path.stat()
            digest.update(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}|{label}\n".encode())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        counts = {c: self.targets.count(i) for i, c in enumerate(self.classes)}
        return f"ImageFiles({len(self)} images, classes={counts})"


def _drop_unreadable(samples: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
    """Remove empty or non-image files, with one warning that names them all."""
    good, bad = [], []
    for path, label in samples:
        (good if is_readable_image(Path(path)) else bad).append((path, label))
    if bad:
        names = ", ".join(str(p) for p, _ in bad)
        warnings.warn(f"Skipping {len(bad)} file(s) that are empty or not images: {names}", stacklevel=3)
    return good


def _image_files(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted, hidden files ignored."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def image_folder(root: str | os.PathLike, transform: Callable | None = None) -> ImageFiles:
    """An ImageFolder tree (`root/<class>/<image>`): one sub-folder per class, as torchvision expects."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder. Expected one sub-folder per class, e.g. {root}/cats/1.jpg.")
    classes, samples = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _image_files(folder)
        if not files:
            warnings.warn(f"Class folder {folder} has no images; it is left out. Add images or remove the folder.",
                          stacklevel=2)
            continue
        samples += [(f, len(classes)) for f in files]
        classes.append(folder.name)
    if len(classes) < 2:
        raise ValueError(f"{root} has {len(classes)} class folder(s) with images; a classifier needs at least 2.")
    return ImageFiles(samples, classes, transform)


def image_csv(csv_path: str | os.PathLike, image_dir: str | os.PathLike | None = None,
              transform: Callable | None = None) -> ImageFiles:
    """A flat folder of images plus a CSV with `file,label` columns (the other common layout of one's own data)."""
    csv_path = Path(csv_path)
    image_dir = Path(image_dir) if image_dir else csv_path.parent
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path} needs a header with columns 'file' and 'label'; found {reader.fieldnames}.")
        rows = [(i + 2, r["file"].strip(), r["label"].strip()) for i, r in enumerate(reader)]
    missing = [(line, name) for line, name, _ in rows if not (image_dir / name).is_file()]
    if missing:
        listed = "; ".join(f"line {line}: {name}" for line, name in missing[:10])
        warnings.warn(f"{csv_path}: {len(missing)} row(s) name files not in {image_dir} and are skipped ({listed}).",
                      stacklevel=2)
    listed_names = {name for _, name, _ in rows}
    unlisted = [p.name for p in _image_files(image_dir) if p.name not in listed_names]
    if unlisted:
        warnings.warn(f"{len(unlisted)} image(s) in {image_dir} have no row in {csv_path} and are not used: "
                      f"{', '.join(unlisted[:10])}", stacklevel=2)
    rows = [(name, label) for line, name, label in rows if (image_dir / name).is_file()]
    classes = sorted({label for _, label in rows})
    if len(classes) < 2:
        raise ValueError(f"{csv_path} has {len(classes)} label(s) with images; a classifier needs at least 2.")
    index = {c: i for i, c in enumerate(classes)}
    return ImageFiles([(image_dir / name, index[label]) for name, label in rows], classes, transform)
