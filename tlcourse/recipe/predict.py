"""`tlcourse predict MODEL PHOTO...`: the top classes of each photo, from a model `tlcourse train` wrote."""

from __future__ import annotations

from pathlib import Path

from .. import models
from ..errors import TrainInputError


def predict_report(model_path: Path, photos: list[Path], k: int = 3) -> list[str]:
    """One line per photo: its top-k classes with probabilities."""
    missing = [str(p) for p in photos if not Path(p).is_file()]
    if missing:
        raise TrainInputError(f"No photo at {', '.join(missing)}. Fix: check the path(s).")
    loaded = models.load_model(model_path)
    results = models.predict_images(loaded, [Path(p) for p in photos], k=k)
    return [f"{p}: " + ", ".join(f"{c} {prob:.1%}" for c, prob in top) for p, top in zip(photos, results)]
