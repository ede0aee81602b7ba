"""EfficientNet-Lite0/1/2 (Tan & Le 2019, the "Lite" variant): the course's offline ImageNet backbones.

Lite differs from EfficientNet-B0 by having no squeeze-excite, ReLU6 instead of swish, and a fixed stem and
head: width and depth multipliers scale the blocks but not the stem (32 channels), the first and last stage's
repeats, or the head (1280 channels). Module names follow the lukemelas `efficientnet_pytorch` layout so the
published state_dicts load with `strict=True`.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Any

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
    """A convolution with TensorFlow's "SAME" padding: extra padding goes right/bottom when it is odd."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = F.pad(x, [*pads[1], *pads[0]])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; a skip connection when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        if expand != 1:
            self._expand_conv = Conv2dSame(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **BN)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **BN)
        self._project_conv = Conv2dSame(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **BN)
        self.has_skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.has_skip else h


class EfficientNetLite(nn.Module):
    """Stem, MBConv blocks in 7 stages, 1x1 head conv to 1280 channels, pooling, dropout, classifier.

    The attributes keep the underscored names of the published weights (`_conv_stem`, `_blocks`, `_fc`), so their
    files load with `strict=True`. Lessons use the public names: `classifier` (read it or assign a new layer to
    it), and `stem`, `stages` and `head`, views that hold the model's own layers (freezing or reading them acts on
    the model; they are not part of its state_dict).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, width: float = 1.0, depth: float = 1.0):
        super().__init__()
        self.table = block_table(width, depth)
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **BN)
        blocks = []
        for repeats, k, s, e, c_in, c_out in self.table:
            for r in range(repeats):
                blocks.append(MBConv(c_in if r == 0 else c_out, c_out, k, s if r == 0 else 1, e))
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = Conv2dSame(self.table[-1][5], 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **BN)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d features: everything but the classifier."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._avg_pooling(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(x)))

    @property
    def classifier(self) -> nn.Module:
        """The last layer, 1280 features to class scores (`_fc` in the weights' files)."""
        return self._fc

    def __setattr__(self, name: str, value: Any) -> None:
        """`model.classifier = nn.Linear(...)` swaps the head, stored as `_fc` where the weights' files expect it."""
        super().__setattr__("_fc" if name == "classifier" else name, value)

    @property
    def stem(self) -> nn.Sequential:
        """The first convolution and its BatchNorm (`stem.conv`, `stem.bn`); a ReLU6 follows in `forward`."""
        return nn.Sequential(OrderedDict(conv=self._conv_stem, bn=self._bn0))

    @property
    def stages(self) -> nn.ModuleDict:
        """The MBConv blocks grouped by stage, `stages["stage1"]` to `stages["stage7"]`, each an nn.Sequential."""
        return nn.ModuleDict(
            {
                stage: nn.Sequential(*(self.get_submodule(p) for p in prefixes))
                for stage, prefixes in stage_names(self.table).items()
                if prefixes[0].startswith("_blocks.")
            }
        )

    @property
    def head(self) -> nn.Sequential:
        """The 1x1 convolution to 1280 channels and its BatchNorm (`head.conv`, `head.bn`), before the pooling."""
        return nn.Sequential(OrderedDict(conv=self._conv_head, bn=self._bn1))


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0: width 1.0, depth 1.0, 224 px; 16 blocks."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__(num_classes, dropout)


def build(name: str, num_classes: int = 1000) -> EfficientNetLite:
    """An EfficientNet-Lite variant by name (efficientnet_lite0/1/2), randomly initialised."""
    width, depth, _size, dropout = VARIANTS[name]
    return EfficientNetLite(num_classes, dropout, width, depth)


def stage_names(table: list | None = None) -> dict[str, list[str]]:
    """Named stages (stem, stage1..stage7, head, classifier) mapped to module-name prefixes (Lite0's by default)."""
    stages = {"stem": ["_conv_stem", "_bn0"]}
    index = 0
    for number, (repeats, *_rest) in enumerate(table or BLOCKS, start=1):
        stages[f"stage{number}"] = [f"_blocks.{index + r}" for r in range(repeats)]
        index += repeats
    stages["head"] = ["_conv_head", "_bn1"]
    stages["classifier"] = ["_fc"]
    return stages


def layers_above(model: EfficientNetLite, stage: str) -> nn.Sequential:
    """A copy of every layer above `stage`, up to the pooled 1280-d features (no classifier).

    It takes that stage's feature maps as input, so the top of the network can be fine-tuned on maps
    extracted once (`extract_features(..., layer=stage, pool=False)`) instead of re-running the frozen layers
    below every step. The copy leaves `model` untouched.
    """
    stages = stage_names(model.table)
    if stage not in stages or not stages[stage][0].startswith("_blocks."):
        blocks = [s for s, prefixes in stages.items() if prefixes[0].startswith("_blocks.")]
        raise ValueError(f"Cut after a block stage ({', '.join(blocks)}), not {stage!r}.")
    first_above = int(stages[stage][-1].split(".")[1]) + 1
    learned = [copy.deepcopy(m) for m in _learned_above(model, first_above)]
    return nn.Sequential(*learned, nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _learned_above(model: EfficientNetLite, first_above: int) -> list[nn.Module]:
    """The layers with weights above a cut, in order: blocks `first_above`.., the head convolution, its BatchNorm."""
    return [*model._blocks[first_above:], model._conv_head, model._bn1]


def load_layers_above(model: EfficientNetLite, top: nn.Sequential) -> EfficientNetLite:
    """Write a (fine-tuned) `layers_above` copy back into `model`, in place: the inverse of `layers_above`."""
    learned = list(top)[:-3]  # the last three (ReLU6, pooling, flatten) have no weights
    first_above = len(model._blocks) - (len(learned) - 2)
    if not 0 < first_above <= len(model._blocks):
        raise ValueError(f"{len(learned)} layers with weights do not fit above a cut of this network")
    for target, source in zip(_learned_above(model, first_above), learned, strict=True):
        target.load_state_dict(source.state_dict())
    return model
