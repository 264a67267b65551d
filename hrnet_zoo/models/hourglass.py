"""Stacked Hourglass (Newell et al., ECCV 2016), as in the original Lua release.

``hourglass(num_stacks=8, num_keypoints=17)``: 25,437,960 parameters (25,434,112 with 16 joints).
``forward(x: N×3×H×W)`` → the last stack's heatmaps N×K×⌈H/4⌉×⌈W/4⌉ (exactly H/4×W/4 at multiples of 4);
``forward_stacks(x)`` → every stack's heatmaps, for intermediate supervision.

Training supervises every stack: ``forward_train`` is ``forward_stacks`` and ``loss`` is the sum over
stacks of the heatmap loss against the same target. That is the paper's intermediate supervision as
Newell's Lua release trains it (``nn.ParallelCriterion`` with one MSE criterion of weight 1 per stack,
``src/util/pose.lua`` of princeton-vl/pose-hg-train). princeton-vl/pytorch_stacked_hourglass computes
the same per-stack losses (``PoseNet.calc_loss``) but averages them in its training step, i.e. the sum
divided by ``num_stacks``: a constant factor that the learning rate absorbs.

Keys: ``stem.*``, ``hourglasses.{i}.*``, ``features.{i}.*``, ``heads.{i}.*``, ``merge_features.{i}.*``,
``merge_preds.{i}.*`` (the stacks feed their predictions back, so there is no backbone/head split).
princeton-vl/pytorch_stacked_hourglass ``PoseNet`` state dicts load through `princeton_to_zoo()`.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from hrnet_zoo._builder import build_model
from hrnet_zoo._registry import register_family, register_model
from hrnet_zoo.backbones.hourglass import Hourglass, HourglassStem, PreActResidual
from hrnet_zoo.errors import LayoutNotRecognized
from hrnet_zoo.layers import conv1x1, conv_bn
from hrnet_zoo.models.base import PoseModelMixin, ZooModel
from hrnet_zoo.pretrained_cfg import PretrainedCfg, pose_cfg

#: The factories (registered below), exported by ``hrnet_zoo.models`` and the top level.
__all__ = ["hourglass"]

FAMILY = register_family(
    "hourglass", __name__, title="Stacked Hourglass (Newell et al.), every stack supervised",
    docs_sections={"StackedHourglass": "Stacked Hourglass"},
    default_input_help=("256x192 pose",),
    zero_cost_ops=("aten::max_pool2d",),  # the stem's and every hourglass level's pooling
    # princeton-vl feeds pixels in [0, 1] without mean/std normalisation
    weights_defaults={"normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "color": "RGB",
                                        "scale": "0-1"}},
)

# princeton-vl PoseNet key → ours. Their ``Conv`` wraps ``conv``/``bn``; ``pre`` is an nn.Sequential
# (index 2 is the parameter-free pool) and each hourglass sits in a one-element nn.Sequential.
_PRINCETON_RENAMES = [
    (r"^pre\.0\.conv\.", "stem.conv1."),
    (r"^pre\.0\.bn\.", "stem.bn1."),
    (r"^pre\.1\.", "stem.res1."),
    (r"^pre\.3\.", "stem.res2."),
    (r"^pre\.4\.", "stem.res3."),
    (r"^hgs\.(\d+)\.0\.", r"hourglasses.\1."),
    (r"^features\.(\d+)\.1\.conv\.", r"features.\1.1.0."),
    (r"^features\.(\d+)\.1\.bn\.", r"features.\1.1.1."),
    (r"^outs\.(\d+)\.conv\.", r"heads.\1."),
    (r"^merge_(features|preds)\.(\d+)\.conv\.conv\.", r"merge_\1.\2."),  # Merge wraps a Conv
    (r"\.skip_layer\.conv\.", ".skip."),
    (r"\.(conv[123])\.conv\.", r".\1."),
]


def princeton_to_zoo(state_dict: dict) -> dict:
    """princeton-vl/pytorch_stacked_hourglass ``PoseNet`` keys → ours.

    Their ``Residual`` always builds ``skip_layer`` but only uses it when the width changes; those
    never-used weights (square 1×1 kernels) are dropped, as Newell's model has no such layer.
    """
    if not any(k.startswith("pre.") for k in state_dict):
        raise LayoutNotRecognized("not a princeton-vl PoseNet state dict")
    unused = {k[: -len("weight")] for k, v in state_dict.items()
              if k.endswith("skip_layer.conv.weight") and v.shape[0] == v.shape[1]}
    out = {}
    for key, value in state_dict.items():
        if any(key.startswith(prefix) for prefix in unused):
            continue
        for pattern, replacement in _PRINCETON_RENAMES:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


class StackedHourglass(PoseModelMixin, ZooModel):
    """Newell's stacked hourglass network.

    Args:
        num_stacks: hourglasses in sequence, each supervised.
        num_keypoints: heatmap channels K.
        num_features: width of every hourglass (256 in the paper).
        depth: pooling levels per hourglass (4).
        in_chans: input channels.

    Per stack: hourglass → residual → 1×1 conv-BN-ReLU (``features``) → 1×1 conv to K heatmaps
    (``heads``); between stacks the input gets ``merge_features(features) + merge_preds(heatmaps)`` added.
    """

    checkpoint_layouts = {"princeton-vl/pytorch_stacked_hourglass PoseNet": princeton_to_zoo}
    # merge_preds maps the K heatmaps back to features: it follows num_keypoints too
    prediction_layers = ("heads", "merge_preds")
    default_input_size = (256, 192)  # a COCO person crop, like the other pose families (MPII uses 256×256)
    config_bounds = {"num_stacks": (1, 16), "num_features": (1, 1024), "depth": (1, 8)}

    def __init__(self, num_stacks: int = 8, num_keypoints: int = 17, num_features: int = 256, depth: int = 4,
                 in_chans: int = 3):
        super().__init__()
        self.num_stacks = num_stacks
        self.num_keypoints = num_keypoints
        f = num_features
        self.stem = HourglassStem(in_chans, f)
        self.hourglasses = nn.ModuleList(Hourglass(depth, f) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(PreActResidual(f, f), conv_bn(f, f, kernel_size=1, bias=True)) for _ in range(num_stacks))
        self.heads = nn.ModuleList(conv1x1(f, num_keypoints, bias=True) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(conv1x1(f, f, bias=True) for _ in range(num_stacks - 1))
        self.merge_preds = nn.ModuleList(conv1x1(num_keypoints, f, bias=True) for _ in range(num_stacks - 1))

    def default_pretrained_cfg(self) -> PretrainedCfg:
        # princeton-vl feeds pixels in [0, 1] without mean/std normalisation
        return pose_cfg(self.num_keypoints, self.default_input_size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def forward_stacks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N×in_chans×H×W → ``num_stacks`` heatmaps N×K×⌈H/4⌉×⌈W/4⌉, first stack first."""
        x = self.stem(x)
        predictions = []
        for i in range(self.num_stacks):
            features = self.features[i](self.hourglasses[i](x))
            heatmaps = self.heads[i](features)
            predictions.append(heatmaps)
            if i < self.num_stacks - 1:
                x = x + self.merge_preds[i](heatmaps) + self.merge_features[i](features)
        return predictions

    def forward_train(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Every stack's heatmaps (`forward_stacks`), each supervised by ``loss``."""
        return self.forward_stacks(images)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stacks(x)[-1]


@register_model
def hourglass(pretrained=False, **kwargs) -> nn.Module:
    """Stacked Hourglass, 8 stacks of 256 features by default: N×K×H/4×W/4 heatmaps (last stack)."""
    return build_model(StackedHourglass, "hourglass", pretrained, **kwargs)
