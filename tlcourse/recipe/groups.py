"""`--groups`: photos of one subject (a patient, a specimen, a camera roll) stay together, in one fold and on one side
of the train/val split, so cross-validation never grades a photo whose near copy it trained on.

A group comes from a column of the `--csv` file, or from a regular expression searched in each file's name (its
first capture group if it has one, else the whole match): `--groups "^(\\w+)_"` puts `rex_01.jpg` and `rex_02.jpg`
in the group `rex`.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from .. import images
from ..errors import TrainInputError


def photo_groups(photos: images.ImageFiles, spec: str, *, csv_path: Path | None, image_dir: Path | None) -> list[str]:
    """Each photo's group, in the dataset's order: a CSV column when `spec` names one, else a file-name pattern."""
    column = _csv_column(csv_path, image_dir, spec) if csv_path is not None else None
    if column is not None:
        return [column[path.resolve()] for path, _ in photos.samples]
    try:
        pattern = re.compile(spec)
    except re.error as err:
        raise TrainInputError(
            f"--groups {spec!r} is neither a column of the CSV nor a valid regular expression ({err})."
        ) from None
    groups = []
    for path, _ in photos.samples:
        found = pattern.search(path.name)
        if found is None:
            raise TrainInputError(
                f"--groups {spec!r} does not match the file name {path.name} ({path}). Fix: a pattern every file name "
                "matches, e.g. '^(\\w+)_' for names like rex_01.jpg, or a CSV column."
            )
        groups.append(found.group(1) if pattern.groups else found.group(0))
    return groups


def _csv_column(csv_path: Path, image_dir: Path | None, column: str) -> dict[Path, str] | None:
    """{resolved image path: the column's value} when the CSV has that column; None when it does not."""
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        names = [n.strip() for n in reader.fieldnames or []]
        if column not in names:
            return None
        reader.fieldnames = names
        folder = image_dir or csv_path.parent
        values = {(folder / (row["file"] or "").strip()).resolve(): (row[column] or "").strip() for row in reader}
    empty = [str(path.name) for path, value in values.items() if not value]
    if empty:
        raise TrainInputError(
            f"{csv_path}: the column {column!r} is empty for {', '.join(empty[:5])}. Fix: fill it in."
        )
    return values


def group_split(
    photos: images.ImageFiles, groups: list[str], val_fraction: float, seed: int
) -> tuple[images.ImageFiles, images.ImageFiles]:
    """(train, val) with every group on one side, the classes' shares kept as well as whole groups allow."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / val_fraction))
    distinct = len(set(groups))
    if distinct < n_splits:
        raise TrainInputError(
            f"--groups found {distinct} group(s): too few to hold out about {val_fraction:.0%} of them for validation. "
            "Fix: check the pattern or column (print a few file names), or give train/ and val/ folders."
        )
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(groups)), photos.targets, groups))
    return photos.subset(sorted(train_idx)), photos.subset(sorted(val_idx))


def fold_splitter(k: int, seed: int, groups: list[str] | None):
    """Stratified k-fold, or stratified group k-fold when photos have groups (no group in two folds)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        return StratifiedKFold(k, shuffle=True, random_state=seed)
    return StratifiedGroupKFold(k, shuffle=True, random_state=seed)
