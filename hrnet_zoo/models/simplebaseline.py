"""SimpleBaseline (Xiao et al.): a ResNet and three deconvolutions; optionally Kang & Cho's multi-scale head.

=============================  ==========================  ====================================
name                           model                       forward(x: N×3×H×W) returns
=============================  ==========================  ====================================
``simplebaseline_r<d>``        [`SimpleBaseline`][hrnet_zoo.models.simplebaseline.SimpleBaseline]      N×K×8⌈H/32⌉×8⌈W/32⌉ heatmaps
``simplebaseline_r<d>_msdh``   [`SimpleBaselineMSDH`][hrnet_zoo.models.simplebaseline.SimpleBaselineMSDH]  N×K×8⌈H/32⌉×8⌈W/32⌉ (mean of resolutions)
=============================  ==========================  ====================================

At sizes divisible by 32 the output is H/4×W/4 (256×192 → 64×48; 250×190 also gives 64×48).
Our keys are ``backbone.*`` + ``head.*``; mmpose v1 checkpoints (``backbone.`` + ``head.deconv_layers``
/ ``head.final_layer``, same sub-keys) therefore load as they are, and the official pose_resnet.py
keys (``conv1``, ``layer1`` …, ``deconv_layers``, ``final_layer``) get the prefixes added.
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from hrnet_zoo._builder import build_model
from hrnet_zoo._registry import register_family, register_model
from hrnet_zoo.backbones.resnet import RESNET_CONFIGS, ResNetBackbone
from hrnet_zoo.errors import LayoutNotRecognized
from hrnet_zoo.heads.deconv import DECONV_PADDING, DeconvHead, MultiScaleDeconvHead
from hrnet_zoo.models._deprecated import deprecated_attributes
from hrnet_zoo.models._features import register_features_backbone
from hrnet_zoo.models.base import PoseModelMixin, ZooModel
from hrnet_zoo.weights.config import Bounds
from hrnet_zoo.weights.convert import split_backbone_head
from hrnet_zoo.weights.manifest import IMAGENET_NORMALIZATION

#: The factories (registered below), exported by ``hrnet_zoo.models`` and the top level.
__all__ = ["simplebaseline_r50", "simplebaseline_r101", "simplebaseline_r152", "simplebaseline_r50_msdh",
           "simplebaseline_r101_msdh", "simplebaseline_r152_msdh"]

FAMILY = register_family(
    "simplebaseline", __name__, title="SimpleBaseline: a ResNet and deconvolutions; multi-scale deconvolution head",
    alias_prefixes=("simplebaseline_",),  # r50 → simplebaseline_r50
    docs_sections={"SimpleBaseline": "SimpleBaseline",
                   "SimpleBaselineMSDH": "SimpleBaseline + multi-scale deconvolution head"},
    default_input_help=("256x192 pose",),
    zero_cost_ops=("aten::max_pool2d",),  # the ResNet stem
    averaging_ops=("aten::mean",),  # MSDH's mean of the resolutions
    weights_defaults={"license": "MIT", "training_data": "COCO train2017 person keypoints (17 joints)",
                      "keypoints": "coco", "input_size": [256, 192], "normalization": IMAGENET_NORMALIZATION},
)

#: The constructors' annotations: ResNet depths and the deconvolution kernels the official code allows.
Depth = Literal[tuple(RESNET_CONFIGS)]
DeconvKernel = Literal[tuple(sorted(DECONV_PADDING))]
_DECONV_BOUNDS = {"num_deconv_filters": Bounds(1, 1024, max_length=5), "num_deconv_kernels": Bounds(max_length=5)}

_OFFICIAL_HEAD_MODULES = ("deconv_layers", "final_layer")


def _official_to_zoo(state_dict: dict) -> dict:
    """Official pose_resnet.py keys (flat) → ``backbone.*`` / ``head.*``."""
    if any(k.startswith("fc.") for k in state_dict):
        raise LayoutNotRecognized("an ImageNet classifier, not a pose_resnet checkpoint")
    return split_backbone_head(state_dict, _OFFICIAL_HEAD_MODULES)


def _imagenet_to_zoo(state_dict: dict) -> dict:
    """torchvision ImageNet ResNet keys → ``backbone.*`` (the ``fc`` classifier dropped); to fine-tune."""
    if not any(k.startswith("fc.") for k in state_dict):
        raise LayoutNotRecognized("no ImageNet classifier keys")
    return {"backbone." + k: v for k, v in state_dict.items() if not k.startswith("fc.")}


def resnet_stages(depth: Depth = 50, in_chans: int = 3) -> ResNetBackbone:
    """The four ResNet stages (``features_only=True``), strides 4, 8, 16, 32."""
    return ResNetBackbone(depth, in_chans)


register_features_backbone("resnet", resnet_stages)

_LAYOUTS = {
    "official SimpleBaseline (pose_resnet.py)": _official_to_zoo,
    "torchvision ImageNet ResNet (backbone only)": _imagenet_to_zoo,
}


class SimpleBaseline(PoseModelMixin, ZooModel):
    """ResNet backbone + `DeconvHead`.

    Args:
        depth: ResNet depth (18, 34, 50, 101, 152).
        num_keypoints: heatmap channels K.
        num_deconv_filters / num_deconv_kernels: one entry per deconvolution (kernels 2, 3 or 4),
            as ``NUM_DECONV_FILTERS`` / ``NUM_DECONV_KERNELS`` of the official configs.
        final_conv_kernel: 1 or 3; deconv_with_bias: the official ``DECONV_WITH_BIAS``.

    ``forward(x: N×in_chans×H×W)`` → N×K×8⌈H/32⌉×8⌈W/32⌉ with the default three deconvolutions.
    """

    checkpoint_layouts = _LAYOUTS
    prediction_layers = ("head.final_layer",)
    config_bounds = _DECONV_BOUNDS

    def __init__(self, depth: Depth = 50, num_keypoints: int = 17, in_chans: int = 3,
                 num_deconv_filters: Sequence[int] = (256, 256, 256),
                 num_deconv_kernels: Sequence[DeconvKernel] = (4, 4, 4),
                 final_conv_kernel: Literal[1, 3] = 1, deconv_with_bias: bool = False):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.backbone = ResNetBackbone(depth, in_chans)
        self.head = DeconvHead(self.backbone.out_channels[-1], num_keypoints, tuple(num_deconv_filters),
                               tuple(num_deconv_kernels), final_conv_kernel, deconv_with_bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×in_chans×H×W → last stage N×C×⌈H/32⌉×⌈W/32⌉."""
        return self.backbone(x)[-1]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class SimpleBaselineMSDH(PoseModelMixin, ZooModel):
    """ResNet backbone + `MultiScaleDeconvHead` (Kang & Cho).

    ``forward(x)`` → the mean of the ``num_resolutions`` predictions, N×K×8⌈H/32⌉×8⌈W/32⌉;
    ``forward_resolutions(x)`` → each prediction at its own size, coarsest first.

    Training (``forward_train``) supervises every resolution and the mean: each prediction resized to
    the final size as ``forward`` resizes it, then the mean itself, each against the one target
    (docs/msdh.md says why). Another keypoint count rebuilds the whole head (``head_layers``): its
    deconvolutions carry the heatmap channels.
    """

    checkpoint_layouts = _LAYOUTS
    prediction_layers = ("head.predictors",)
    head_layers = ("head",)
    config_bounds = {**_DECONV_BOUNDS, "num_resolutions": (1, 6)}

    def __init__(self, depth: Depth = 50, num_keypoints: int = 17, in_chans: int = 3, num_resolutions: int = 3,
                 num_deconv_filters: Sequence[int] = (256, 256, 256),
                 num_deconv_kernels: Sequence[DeconvKernel] = (4, 4, 4),
                 upsample_mode: Literal["nearest", "bilinear", "bicubic", "area", "nearest-exact"] = "bilinear"):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.backbone = ResNetBackbone(depth, in_chans)
        self.head = MultiScaleDeconvHead(self.backbone.out_channels[-1], num_keypoints, num_resolutions,
                                         tuple(num_deconv_filters), tuple(num_deconv_kernels), upsample_mode)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)[-1]

    def forward_resolutions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N×in_chans×H×W → ``num_resolutions`` heatmaps N×K×(2^s·⌈H/32⌉)×(2^s·⌈W/32⌉), coarsest first."""
        return self.head.forward_all(self.forward_features(x))

    def forward_train(self, images: torch.Tensor) -> list[torch.Tensor]:
        """N×in_chans×H×W → ``num_resolutions + 1`` heatmaps N×K×8⌈H/32⌉×8⌈W/32⌉: each resolution's
        prediction resized to the final size (coarsest first), then their mean (``forward``'s output)."""
        predictions = self.head.forward_all(self.forward_features(images))
        return [*self.head.resize_to_finest(predictions), self.head.merge(predictions)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _simplebaseline(variant: str, depth: int, pretrained, **kwargs) -> nn.Module:
    return build_model(SimpleBaseline, variant, pretrained, depth=depth, features="resnet",
                       features_args={"depth": depth}, **kwargs)


def _msdh(variant: str, depth: int, pretrained, **kwargs) -> nn.Module:
    return build_model(SimpleBaselineMSDH, variant, pretrained, depth=depth, features="resnet",
                       features_args={"depth": depth}, **kwargs)


@register_model
def simplebaseline_r50(pretrained=False, **kwargs) -> nn.Module:
    """SimpleBaseline ResNet-50: N×K×H/4×W/4 heatmaps (33,999,697 parameters with 17 joints)."""
    return _simplebaseline("simplebaseline_r50", 50, pretrained, **kwargs)


@register_model
def simplebaseline_r101(pretrained=False, **kwargs) -> nn.Module:
    """SimpleBaseline ResNet-101: N×K×H/4×W/4 heatmaps (52,991,825 parameters with 17 joints)."""
    return _simplebaseline("simplebaseline_r101", 101, pretrained, **kwargs)


@register_model
def simplebaseline_r152(pretrained=False, **kwargs) -> nn.Module:
    """SimpleBaseline ResNet-152: N×K×H/4×W/4 heatmaps (68,635,473 parameters with 17 joints)."""
    return _simplebaseline("simplebaseline_r152", 152, pretrained, **kwargs)


@register_model
def simplebaseline_r50_msdh(pretrained=False, **kwargs) -> nn.Module:
    """SimpleBaseline ResNet-50 + multi-scale deconvolution head (``num_resolutions``, default 3)."""
    return _msdh("simplebaseline_r50_msdh", 50, pretrained, **kwargs)


@register_model
def simplebaseline_r101_msdh(pretrained=False, **kwargs) -> nn.Module:
    """SimpleBaseline ResNet-101 + multi-scale deconvolution head (``num_resolutions``, default 3)."""
    return _msdh("simplebaseline_r101_msdh", 101, pretrained, **kwargs)


@register_model
def simplebaseline_r152_msdh(pretrained=False, **kwargs) -> nn.Module:
    """SimpleBaseline ResNet-152 + multi-scale deconvolution head (``num_resolutions``, default 3)."""
    return _msdh("simplebaseline_r152_msdh", 152, pretrained, **kwargs)


__getattr__ = deprecated_attributes(__name__, "ResNetFeatures")  # the 0.2 features class, now BackboneFeatures
