"""A feature cache keyed per image file content: any split, subset or copy of the same photos is served from disk.

`features.extract_features` caches one file per dataset, so dividing the same photos differently runs the
backbone again. Here each image's features are stored under the SHA-256 of its bytes (inside one store per
backbone weights + layer + transform), so a new split only computes the images never seen before.

Under torchrun (torch.distributed initialised) every rank calls `image_features` together: each computes its share
of the missing images, the ranks add their shares to the store one at a time, and every rank then reads the whole
store. Each photo goes through the backbone once, on one rank.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import distributed
from .download import sha256_while_unchanged
from .features import compute_features, features_key
from .images import ImageFiles
from .models import BackboneInfo
from .paths import cache_dir
from .runtime import pick_device
from .storage import atomic_save


def content_hash(path: Path) -> str:
    """The identity of an image for the cache: its bytes, whatever its name or folder."""
    return sha256_while_unchanged(path)[:32]


def store_path(model: nn.Module, dataset: ImageFiles, layer: str, pool: bool) -> Path:
    """The store for this backbone's weights, layer, pooling, transform and decoding size."""
    return (
        cache_dir("image_features") / f"{features_key(model, dataset, layer, pool, f'min_side={dataset.min_side}')}.pt"
    )


def _load_store(path: Path) -> dict[str, torch.Tensor]:
    """content hash -> feature tensor, from disk (empty when there is no store yet)."""
    if not path.is_file():
        return {}
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return dict(zip(saved["keys"], saved["features"]))


def _save_store(path: Path, store: dict[str, torch.Tensor]) -> None:
    """The store written whole, atomically: content hashes and their features, in one file."""
    atomic_save({"keys": list(store), "features": torch.stack(list(store.values()))}, path)


def _add_to_store(path: Path, store: dict[str, torch.Tensor], computed: dict) -> dict[str, torch.Tensor]:
    """Write what this process computed into the store file; under torchrun the ranks take turns, then all reread."""
    if not distributed.is_initialized():
        if computed:
            store.update(computed)
            _save_store(path, store)
        return store
    for turn in range(distributed.world_size()):
        if turn == distributed.rank() and computed:
            store = {**_load_store(path), **computed}  # the shares of the ranks before this one are in the file
            _save_store(path, store)
        distributed.barrier()
    return _load_store(path)


def image_features(
    model: nn.Module,
    dataset: ImageFiles,
    layer: str | None = None,
    info: BackboneInfo | None = None,
    *,
    pool: bool = True,
    batch_size: int = 32,
    device=None,
    progress: bool = True,
):
    """(features, labels) of `dataset`, computing only images whose content is not in the store yet.

    Returns (features [N, ...], labels [N]) in dataset order; `pool=False` keeps feature maps. The arguments are
    those of `features.extract_features`, in the same order.
    """
    if isinstance(layer, BackboneInfo):
        raise TypeError(
            "image_features(model, dataset, layer, info): the layer comes before info, as in extract_features"
        )
    layer = layer or (info.feature_layer if info else None)
    if layer is None:
        raise ValueError("Name the layer to extract (or pass info= from load_backbone for the default).")
    path = store_path(model, dataset, layer, pool)
    distributed.barrier()  # under torchrun: every rank reads the store as it is before anyone adds to it
    store = _load_store(path)
    keys = [content_hash(p) for p, _ in dataset.samples]
    todo = sorted({k: i for i, k in reversed(list(enumerate(keys))) if k not in store}.values())
    mine = todo[distributed.rank() :: distributed.world_size()]  # all of them in a single process
    computed = {}
    if mine:
        device = pick_device(device)
        show = progress and distributed.is_main()
        maps, _ = compute_features(model, dataset.subset(mine), layer, info, batch_size, device, show, pool)
        computed = {keys[i]: f for i, f in zip(mine, maps)}
    store = _add_to_store(path, store, computed)
    labels = torch.as_tensor(dataset.targets, dtype=torch.long)
    return torch.stack([store[k] for k in keys]), labels
