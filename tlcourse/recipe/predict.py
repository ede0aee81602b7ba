"""`tlcourse predict MODEL PHOTO...`: the top classes of each photo, from a model `tlcourse train` wrote.

With `--adapt-bn`, the photos given are taken as one batch from a new source: every BatchNorm layer of the backbone
is re-estimated on them (AdaBN), and they are classified by the head `tlcourse train` fitted under the training
photos' own statistics (`adapt_bn.pt`, next to the model), so head and statistics stay consistent.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import images, models
from ..errors import TrainInputError
from ..runtime import pick_device
from .robustness import (
    ADAPT_FILE,
    ADAPT_FORMAT,
    MIN_ADAPT_PHOTOS,
    cropped_pixels,
    features_under_own_statistics,
    normalised,
    statistics_distance,
)


def predict_report(model_path: Path, photos: list[Path], k: int = 3, *, adapt_bn: bool = False) -> list[str]:
    """One line per photo: its top-k classes with probabilities (with `adapt_bn`, a first line on the adaptation)."""
    missing = [str(p) for p in photos if not Path(p).is_file()]
    if missing:
        raise TrainInputError(f"No photo at {', '.join(missing)}. Fix: check the path(s).")
    loaded = models.load_model(model_path)
    if adapt_bn:
        return _adapted_report(Path(model_path), loaded, [Path(p) for p in photos], k)
    results = models.predict_images(loaded, [Path(p) for p in photos], k=k)
    return [f"{p}: " + ", ".join(f"{c} {prob:.1%}" for c, prob in top) for p, top in zip(photos, results)]


def _adapted_report(model_path: Path, loaded: models.LoadedModel, photos: list[Path], k: int) -> list[str]:
    """AdaBN on the photos given: statistics re-estimated on them, the AdaBN head, and how far they moved."""
    if len(photos) < MIN_ADAPT_PHOTOS:
        raise TrainInputError(
            f"--adapt-bn needs at least {MIN_ADAPT_PHOTOS} photos from the new source at once (got {len(photos)}): "
            "BatchNorm statistics of fewer are too noisy to adapt to. Fix: give more photos, or drop --adapt-bn."
        )
    state = _read_adaptation(model_path.parent / ADAPT_FILE, len(loaded.classes))
    backbone = models.load_backbone(loaded.info.name)  # the frozen ImageNet backbone the AdaBN head was fitted on
    dataset = images.ImageFiles([(p, 0) for p in photos], ["?"], check_files=False)
    x = normalised(*cropped_pixels(dataset, loaded.transform))
    features, stats = features_under_own_statistics(backbone.model, x, pick_device())
    head = nn.Linear(features.shape[1], len(loaded.classes))
    head.load_state_dict(state["head"])
    with torch.no_grad():
        probs = head(features).softmax(1)
    distance = statistics_distance(stats, state["train_stats"])
    lines = [
        f"adapted to {len(photos)} photos: their BatchNorm statistics are {distance:.2f} training standard deviations "
        f"from the training photos' (the validation photos were {state['val_distance']:.2f}); classes from the AdaBN "
        f"probe fitted on {state['photos']} training photos under their own statistics (the photos given should be a "
        "mix of classes, as the training photos were: one class alone has statistics of its own)"
    ]
    top = probs.topk(min(k, len(loaded.classes)), dim=1)
    for path, values, indices in zip(photos, top.values, top.indices):
        lines.append(f"{path}: " + ", ".join(f"{loaded.classes[i]} {p:.1%}" for p, i in zip(values, indices.tolist())))
    return lines


def _read_adaptation(path: Path, num_classes: int) -> dict:
    """adapt_bn.pt's contents, checked: it exists, it is one, and its head has the model's classes."""
    if not path.is_file():
        raise TrainInputError(
            f"No {ADAPT_FILE} next to the model ({path}). Fix: train again without --no-robustness (it writes the "
            "AdaBN head and the training photos' statistics there)."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != ADAPT_FORMAT:
        raise TrainInputError(f"{path} is not an adapt_bn file of tlcourse train. Fix: train again to write it.")
    if state["head"]["weight"].shape[0] != num_classes:
        raise TrainInputError(f"{path} belongs to a model of another set of classes. Fix: train again to rewrite it.")
    return state
