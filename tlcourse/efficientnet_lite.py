"""EfficientNet-Lite0/1/2 (Tan & Le 2019, the "Lite" variant): the course's offline ImageNet backbones.

Lite differs from EfficientNet-B0 by having no squeeze-excite, ReLU6 instead of swish, and a fixed stem and
head: width and depth multipliers scale the blocks but not the stem (32 channels), the first and last stage's
repeats, or the head (1280 channels). The parts have public names (`stem`, `stages`, `head`, `pooling`,
`classifier`); the published state_dicts, in the lukemelas `efficientnet_pytorch` layout, are renamed onto them as
they load.
"""

from __future__ import annotations

import copy
import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels): EfficientNet-B0's block table
BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN: dict[str, Any] = dict(eps=1e-3, momentum=0.01)  # TensorFlow's defaults, which the weights were trained with
# name: (width multiplier, depth multiplier, input resolution, dropout), as in the EfficientNet-Lite release
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by `width`, rounded to a multiple of 8 (never more than 10 % below the scaled value)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def block_table(width: float = 1.0, depth: float = 1.0) -> list[tuple[int, int, int, int, int, int]]:
    """BLOCKS scaled for a Lite variant: inner stages get ceil(depth * repeats); stem width and end stages fixed."""
    table = []
    for index, (repeats, k, s, e, c_in, c_out) in enumerate(BLOCKS):
        fixed = index in (0, len(BLOCKS) - 1)
        table.append(
            (
                repeats if fixed else math.ceil(depth * repeats),
                k,
                s,
                e,
                c_in if index == 0 else round_filters(c_in, width),
                round_filters(c_out, width),
            )
        )
    return table


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding: extra padding goes right/bottom when it is odd.

    Only an uneven padding is a separate `F.pad` (a copy of the whole input); an even one is the convolution's own
    (1x1 and stride-1 convolutions, most of the network): the same zeros, without the copy (a quarter of
    EfficientNet-Lite0's CPU time went to `F.pad` before).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        if all(before == after for before, after in pads):
            return F.conv2d(x, self.weight, self.bias, self.stride, [p for p, _ in pads], self.dilation, self.groups)
        x = F.pad(x, [*pads[1], *pads[0]])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; a skip connection when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        if expand != 1:
            self.expand_conv = Conv2dSame(c_in, hidden, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(hidden, **BN)
        self.depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self.depthwise_bn = nn.BatchNorm2d(hidden, **BN)
        self.project_conv = Conv2dSame(hidden, c_out, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(c_out, **BN)
        self.has_skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "expand_conv"):
            h = F.relu6(self.expand_bn(self.expand_conv(h)))
        h = F.relu6(self.depthwise_bn(self.depthwise_conv(h)))
        h = self.project_bn(self.project_conv(h))
        return h + x if self.has_skip else h


class ConvBN(nn.Module):
    """A convolution and its BatchNorm (`.conv`, `.bn`): the stem and the head; a ReLU6 follows in `forward`."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.conv = Conv2dSame(c_in, c_out, kernel, stride, bias=False)
        self.bn = nn.BatchNorm2d(c_out, **BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class EfficientNetLite(nn.Module):
    """Stem, MBConv blocks in 7 stages, 1x1 head conv to 1280 channels, pooling, dropout, classifier.

    Every part has one name, the one lessons use: `stem` (`stem.conv`, `stem.bn`), `stages` (`stages["stage1"]`
    to `stages["stage7"]`, each an nn.Sequential of MBConv blocks), `head` (`head.conv`, `head.bn`), `pooling`,
    `dropout` and `classifier` (read it, or assign a new layer to it). The published weights' files use the
    lukemelas `efficientnet_pytorch` names (`_conv_stem`, `_blocks.N`, `_fc`, ...): `load_state_dict` maps them
    onto these (`weights_key`), so those files, and course models saved before the rename, load with `strict=True`.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, width: float = 1.0, depth: float = 1.0):
        super().__init__()
        self.table = block_table(width, depth)
        self.stem = ConvBN(3, 32, 3, 2)
        self.stages = nn.ModuleDict()
        for number, (repeats, k, s, e, c_in, c_out) in enumerate(self.table, start=1):
            self.stages[f"stage{number}"] = nn.Sequential(
                *(MBConv(c_in if r == 0 else c_out, c_out, k, s if r == 0 else 1, e) for r in range(repeats))
            )
        self.head = ConvBN(self.table[-1][5], 1280, 1)
        self.pooling = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(1280, num_classes)
        self.register_load_state_dict_pre_hook(_rename_weights_keys)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d features: everything but the classifier."""
        x = F.relu6(self.stem(x))
        for stage in self.stages.values():
            x = stage(x)
        x = F.relu6(self.head(x))
        return self.pooling(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))

    def blocks(self) -> list[MBConv]:
        """Every MBConv block in order, from stage1's first to stage7's last."""
        return [cast(MBConv, block) for stage in self.stages.values() for block in cast(nn.Sequential, stage)]


# The lukemelas names of the published weights' files, and this module's names for the same layers.
_TOP_NAMES = {
    "_conv_stem": "stem.conv",
    "_bn0": "stem.bn",
    "_conv_head": "head.conv",
    "_bn1": "head.bn",
    "_fc": "classifier",
}
_BLOCK_NAMES = {
    "_expand_conv": "expand_conv",
    "_bn0": "expand_bn",
    "_depthwise_conv": "depthwise_conv",
    "_bn1": "depthwise_bn",
    "_project_conv": "project_conv",
    "_bn2": "project_bn",
}


def weights_key(key: str, table: list) -> str:
    """This module's name for a key of the published weights; other keys unchanged.

    For example `_blocks.15._bn2.weight` -> `stages.stage7.0.project_bn.weight`, `_fc.bias` -> `classifier.bias`.
    """
    first, _, rest = key.partition(".")
    if first in _TOP_NAMES:
        return f"{_TOP_NAMES[first]}.{rest}"
    if first != "_blocks":
        return key
    index, _, rest = rest.partition(".")
    layer, _, tensor = rest.partition(".")
    number, within = _stage_of(int(index), table)
    return f"stages.stage{number}.{within}.{_BLOCK_NAMES.get(layer, layer)}.{tensor}"


def _stage_of(index: int, table: list) -> tuple[int, int]:
    """(stage number, position in the stage) of the `index`-th block."""
    for number, (repeats, *_rest) in enumerate(table, start=1):
        if index < repeats:
            return number, index
        index -= repeats
    raise KeyError(f"block {index} is past the last stage")


def _rename_weights_keys(model: EfficientNetLite, state_dict: dict, prefix: str, *_args) -> None:
    """load_state_dict's pre-hook: rename the published files' keys (under `prefix`) to this module's names."""
    for key in [k for k in state_dict if k.startswith(prefix + "_")]:
        state_dict[prefix + weights_key(key[len(prefix) :], model.table)] = state_dict.pop(key)


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0: width 1.0, depth 1.0, 224 px; 16 blocks."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__(num_classes, dropout)


def build(name: str, num_classes: int = 1000) -> EfficientNetLite:
    """An EfficientNet-Lite variant by name (efficientnet_lite0/1/2), randomly initialised."""
    width, depth, _size, dropout = VARIANTS[name]
    return EfficientNetLite(num_classes, dropout, width, depth)


def stage_names(table: list | None = None) -> dict[str, list[str]]:
    """Named stages (stem, stage1..stage7, head, classifier) mapped to their modules' names (alike in every variant)."""
    stages = {"stem": ["stem"]}
    stages.update({f"stage{n}": [f"stages.stage{n}"] for n in range(1, len(table or BLOCKS) + 1)})
    return {**stages, "head": ["head"], "classifier": ["classifier"]}


def layers_above(model: EfficientNetLite, stage: str) -> nn.Sequential:
    """A copy of every layer above `stage`, up to the pooled 1280-d features (no classifier).

    It takes that stage's feature maps as input, so the top of the network can be fine-tuned on maps
    extracted once (`extract_features(..., layer=stage, pool=False)`) instead of re-running the frozen layers
    below every step. The copy leaves `model` untouched.
    """
    if stage not in model.stages:
        raise ValueError(f"Cut after a block stage ({', '.join(model.stages)}), not {stage!r}.")
    names = list(model.stages)
    first_above = sum(len(cast(nn.Sequential, model.stages[s])) for s in names[: names.index(stage) + 1])
    learned = [copy.deepcopy(m) for m in _learned_above(model, first_above)]
    return nn.Sequential(*learned, nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _learned_above(model: EfficientNetLite, first_above: int) -> list[nn.Module]:
    """The layers with weights above a cut, in order: blocks `first_above`.., the head convolution, its BatchNorm."""
    return [*model.blocks()[first_above:], model.head.conv, model.head.bn]


def load_layers_above(model: EfficientNetLite, top: nn.Sequential) -> EfficientNetLite:
    """Write a (fine-tuned) `layers_above` copy back into `model`, in place: the inverse of `layers_above`."""
    learned = list(top)[:-3]  # the last three (ReLU6, pooling, flatten) have no weights
    blocks = len(model.blocks())
    first_above = blocks - (len(learned) - 2)
    if not 0 < first_above <= blocks:
        raise ValueError(f"{len(learned)} layers with weights do not fit above a cut of this network")
    for target, source in zip(_learned_above(model, first_above), learned, strict=True):
        target.load_state_dict(source.state_dict())
    return model
