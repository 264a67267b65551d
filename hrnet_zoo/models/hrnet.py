"""The HRNet family: one backbone, four heads. `HRNetPose` (``hrnet_<w>``, V1): N×K×H/4×W/4 heatmaps;
`HRNetV2` (``hrnetv2_<w>``): N×15C×H/4×W/4, or N×classes logits; `HRNetV2p` (``hrnetv2p_<w>``): 5 maps
N×256 at strides 4 … 64; `HRNetClassifier` (``hrnet_<w>_cls``): N×num_classes logits.

Our keys are ``backbone.*`` plus ``head.*`` (or ``neck.*`` for V2p). The official repositories keep
backbone and head at the top level; `_official_to_zoo()` adds the prefixes.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn

from hrnet_zoo._builder import build_model
from hrnet_zoo._registry import register_family, register_model
from hrnet_zoo.backbones.hrnet import FUSE_MODES, HRNET_CONFIGS, HRNetBackbone
from hrnet_zoo.heads import HRFPN, HeatmapHead, HRNetClassificationHead, SegmentationHead, concat_branches
from hrnet_zoo.models._deprecated import deprecated_attributes
from hrnet_zoo.models._features import register_features_backbone
from hrnet_zoo.models.base import ClassifierMixin, PoseModelMixin, ZooModel
from hrnet_zoo.pretrained_cfg import PretrainedCfg
from hrnet_zoo.weights.convert import split_backbone_head
from hrnet_zoo.weights.manifest import IMAGENET_NORMALIZATION

#: The factories (registered below), exported by ``hrnet_zoo.models`` and the top level.
__all__ = ["hrnet_w18_small_v1", "hrnet_w18_small_v2", "hrnet_w18", "hrnet_w30", "hrnet_w32", "hrnet_w40", "hrnet_w44",
           "hrnet_w48", "hrnet_w64", "hrnetv2_w18_small_v1", "hrnetv2_w18_small_v2", "hrnetv2_w18", "hrnetv2_w30",
           "hrnetv2_w32", "hrnetv2_w40", "hrnetv2_w44", "hrnetv2_w48", "hrnetv2_w64", "hrnetv2p_w18_small_v1",
           "hrnetv2p_w18_small_v2", "hrnetv2p_w18", "hrnetv2p_w30", "hrnetv2p_w32", "hrnetv2p_w40", "hrnetv2p_w44",
           "hrnetv2p_w48", "hrnetv2p_w64", "hrnet_w18_small_v1_cls", "hrnet_w18_small_v2_cls", "hrnet_w18_cls",
           "hrnet_w30_cls", "hrnet_w32_cls", "hrnet_w40_cls", "hrnet_w44_cls", "hrnet_w48_cls", "hrnet_w64_cls"]

FAMILY = register_family(
    "hrnet", __name__, title="HRNet: pose (V1), segmentation (V2), detection (V2p) and classification",
    alias_prefixes=("hrnet_", "hrnet"),  # w32 → hrnet_w32, v2_w48 → hrnetv2_w48, v2p_w32 → hrnetv2p_w32
    docs_sections={"HRNetPose": "HRNetV1 pose", "HRNetClassifier": "HRNet classification (ImageNet)",
                   "HRNetV2": "HRNetV2 (all resolutions concatenated)",
                   "HRNetV2p": "HRNetV2p (feature pyramid for detection)"},
    default_input_help=("256x192 pose", "224x224 classification", "512x1024 HRNetV2", "800x1216 HRNetV2p"),
    averaging_ops=("aten::avg_pool2d", "aten::mean"),  # the classifier's global mean, HRFPN's pyramid pooling
    weights_defaults={"normalization": IMAGENET_NORMALIZATION})

#: The HRNet widths (``HRNET_CONFIGS``) and fuse modes, as the constructors' annotations.
Width = Literal[tuple(HRNET_CONFIGS)]
FuseMode = Literal[tuple(FUSE_MODES)]

# The official heads' top-level modules: pose, segmentation, then classification's
_OFFICIAL_HEAD_MODULES = ("final_layer", "last_layer", "incre_modules", "downsamp_modules", "classifier")


def _official_to_zoo(state_dict: dict) -> dict:
    """Flat official keys (``conv1.weight``, ``final_layer.weight``) → ``backbone.*`` / ``head.*``."""
    return split_backbone_head(state_dict, _OFFICIAL_HEAD_MODULES)


_OFFICIAL_LAYOUTS = {"official HRNet (pose_hrnet / cls_hrnet / seg_hrnet / timm)": _official_to_zoo}


def hrnet_branches(width: Width = "w32", in_chans: int = 3, fuse_mode: FuseMode = "nearest") -> HRNetBackbone:
    """The four HRNet branches (``features_only=True``): N×(C·2^i)×⌈H/2^(i+2)⌉×⌈W/2^(i+2)⌉ for branch i."""
    return HRNetBackbone(width, in_chans, fuse_mode=fuse_mode)


register_features_backbone("hrnet", hrnet_branches)


class HRNetPose(PoseModelMixin, ZooModel):
    """HRNetV1 for top-down pose: the stride-4 branch and a 1×1 heatmap head.

    As in the official pose code the last stage-4 module fuses only into the stride-4 branch.
    ``forward(x: N×in_chans×H×W)`` → N×num_keypoints×⌈H/4⌉×⌈W/4⌉; training supervises these heatmaps
    (``forward_train``, ``loss``, ``reset_head`` of `PoseModelMixin`).
    """

    checkpoint_layouts = {**_OFFICIAL_LAYOUTS}
    prediction_layers = ("head.final_layer",)

    def __init__(self, width: Width = "w32", num_keypoints: int = 17, in_chans: int = 3,
                 final_conv_kernel: Literal[1, 3] = 1):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.backbone = HRNetBackbone(width, in_chans, multi_scale_output=False)
        self.head = HeatmapHead(self.backbone.out_channels[0], num_keypoints, final_conv_kernel)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×in_chans×H×W → N×C×H/4×W/4."""
        return self.backbone(x)[0]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class HRNetV2(ZooModel):
    """HRNetV2: all four branches upsampled bilinearly and concatenated (15C channels).

    The backbone fuses lower branches bilinearly (``align_corners=False``), as the released
    HRNet-Semantic-Segmentation models do. With ``num_classes`` the official segmentation head
    (``last_layer``) follows.

    ``forward(x: N×in_chans×H×W)`` → N×15C×⌈H/4⌉×⌈W/4⌉, or N×num_classes×⌈H/4⌉×⌈W/4⌉ logits.
    """

    checkpoint_layouts = {**_OFFICIAL_LAYOUTS}
    prediction_layers = ("head.last_layer.3",)
    default_input_size = (512, 1024)  # the Cityscapes crops of HRNet-Semantic-Segmentation

    def __init__(self, width: Width = "w48", num_classes: Optional[int] = None, in_chans: int = 3,
                 fuse_mode: FuseMode = "bilinear", align_corners: bool = False, final_conv_kernel: Literal[1, 3] = 1):
        super().__init__()
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.backbone = HRNetBackbone(width, in_chans, fuse_mode=fuse_mode, align_corners=align_corners)
        self.num_features = sum(self.backbone.out_channels)
        self.head = SegmentationHead(self.num_features, num_classes, final_conv_kernel) if num_classes else None

    def default_pretrained_cfg(self) -> PretrainedCfg:
        return PretrainedCfg(input_size=self.default_input_size, num_classes=self.num_classes, output_stride=4)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×in_chans×H×W → N×15C×H/4×W/4."""
        return concat_branches(self.backbone(x), self.align_corners)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.head is None else self.head(x)


class HRNetV2p(ZooModel):
    """HRNetV2p: the detection backbone (nearest fuse) and the HRFPN neck of HRNet-Object-Detection.

    Keys match the mmdetection checkpoints (``backbone.*``, ``neck.*``) directly.
    ``forward(x: N×in_chans×H×W)`` → list of 5 maps N×out_channels×H/s×W/s, s = 4, 8, 16, 32, 64.
    """

    default_input_size = (800, 1216)  # mmdetection's 1333×800 resize, padded to a multiple of 32
    config_bounds = {"out_channels": (1, 1024), "num_outs": (1, 8)}

    def __init__(self, width: Width = "w32", in_chans: int = 3, out_channels: int = 256, num_outs: int = 5):
        super().__init__()
        self.backbone = HRNetBackbone(width, in_chans)
        self.neck = HRFPN(self.backbone.out_channels, out_channels, num_outs)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.forward_features(x))


class HRNetClassifier(ClassifierMixin, ZooModel):
    """HRNet for ImageNet classification (HRNet-Image-Classification; timm's keys are the same).

    ``forward(x: N×in_chans×H×W)`` → N×num_classes logits; ``forward_features`` gives N×2048×H/32×W/32.
    """

    checkpoint_layouts = {**_OFFICIAL_LAYOUTS}
    prediction_layers = ("head.classifier",)
    default_input_size = (224, 224)

    def __init__(self, width: Width = "w18", num_classes: int = 1000, in_chans: int = 3, head_conv_bias: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = HRNetBackbone(width, in_chans)
        self.head = HRNetClassificationHead(self.backbone.out_channels, num_classes, head_conv_bias)
        self.num_features = self.head.num_features  # pooled width: the classifier's input

    def default_pretrained_cfg(self) -> PretrainedCfg:
        return PretrainedCfg(input_size=self.default_input_size, num_classes=self.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.forward_features(self.backbone(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.classifier(x.mean(dim=(2, 3)))


def _build(model_cls, variant: str, width: str, pretrained, **kwargs) -> nn.Module:
    # V2's features fuse bilinearly, as the released segmentation models do; the others nearest
    fuse_mode = "bilinear" if model_cls is HRNetV2 else "nearest"
    return build_model(model_cls, variant, pretrained, width=width, features="hrnet",
                       features_args={"width": width, "fuse_mode": fuse_mode}, **kwargs)


@register_model
def hrnet_w18_small_v1(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w18_small_v1: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w18_small_v1", "w18_small_v1", pretrained, **kwargs)


@register_model
def hrnet_w18_small_v2(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w18_small_v2: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w18_small_v2", "w18_small_v2", pretrained, **kwargs)


@register_model
def hrnet_w18(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w18: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w18", "w18", pretrained, **kwargs)


@register_model
def hrnet_w30(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w30: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w30", "w30", pretrained, **kwargs)


@register_model
def hrnet_w32(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w32: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w32", "w32", pretrained, **kwargs)


@register_model
def hrnet_w40(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w40: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w40", "w40", pretrained, **kwargs)


@register_model
def hrnet_w44(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w44: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w44", "w44", pretrained, **kwargs)


@register_model
def hrnet_w48(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w48: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w48", "w48", pretrained, **kwargs)


@register_model
def hrnet_w64(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV1 pose, width w64: N×K×H/4×W/4 heatmaps."""
    return _build(HRNetPose, "hrnet_w64", "w64", pretrained, **kwargs)


@register_model
def hrnetv2_w18_small_v1(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w18_small_v1: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w18_small_v1", "w18_small_v1", pretrained, **kwargs)


@register_model
def hrnetv2_w18_small_v2(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w18_small_v2: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w18_small_v2", "w18_small_v2", pretrained, **kwargs)


@register_model
def hrnetv2_w18(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w18: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w18", "w18", pretrained, **kwargs)


@register_model
def hrnetv2_w30(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w30: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w30", "w30", pretrained, **kwargs)


@register_model
def hrnetv2_w32(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w32: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w32", "w32", pretrained, **kwargs)


@register_model
def hrnetv2_w40(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w40: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w40", "w40", pretrained, **kwargs)


@register_model
def hrnetv2_w44(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w44: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w44", "w44", pretrained, **kwargs)


@register_model
def hrnetv2_w48(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w48: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w48", "w48", pretrained, **kwargs)


@register_model
def hrnetv2_w64(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2, width w64: N×15C×H/4×W/4 features, or segmentation logits with num_classes."""
    return _build(HRNetV2, "hrnetv2_w64", "w64", pretrained, **kwargs)


@register_model
def hrnetv2p_w18_small_v1(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w18_small_v1: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w18_small_v1", "w18_small_v1", pretrained, **kwargs)


@register_model
def hrnetv2p_w18_small_v2(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w18_small_v2: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w18_small_v2", "w18_small_v2", pretrained, **kwargs)


@register_model
def hrnetv2p_w18(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w18: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w18", "w18", pretrained, **kwargs)


@register_model
def hrnetv2p_w30(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w30: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w30", "w30", pretrained, **kwargs)


@register_model
def hrnetv2p_w32(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w32: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w32", "w32", pretrained, **kwargs)


@register_model
def hrnetv2p_w40(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w40: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w40", "w40", pretrained, **kwargs)


@register_model
def hrnetv2p_w44(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w44: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w44", "w44", pretrained, **kwargs)


@register_model
def hrnetv2p_w48(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w48: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w48", "w48", pretrained, **kwargs)


@register_model
def hrnetv2p_w64(pretrained=False, **kwargs) -> nn.Module:
    """HRNetV2p, width w64: 5 pyramid maps of 256 channels."""
    return _build(HRNetV2p, "hrnetv2p_w64", "w64", pretrained, **kwargs)


@register_model
def hrnet_w18_small_v1_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w18_small_v1: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w18_small_v1_cls", "w18_small_v1", pretrained, **kwargs)


@register_model
def hrnet_w18_small_v2_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w18_small_v2: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w18_small_v2_cls", "w18_small_v2", pretrained, **kwargs)


@register_model
def hrnet_w18_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w18: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w18_cls", "w18", pretrained, **kwargs)


@register_model
def hrnet_w30_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w30: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w30_cls", "w30", pretrained, **kwargs)


@register_model
def hrnet_w32_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w32: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w32_cls", "w32", pretrained, **kwargs)


@register_model
def hrnet_w40_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w40: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w40_cls", "w40", pretrained, **kwargs)


@register_model
def hrnet_w44_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w44: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w44_cls", "w44", pretrained, **kwargs)


@register_model
def hrnet_w48_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w48: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w48_cls", "w48", pretrained, **kwargs)


@register_model
def hrnet_w64_cls(pretrained=False, **kwargs) -> nn.Module:
    """HRNet classification, width w64: N×1000 logits."""
    return _build(HRNetClassifier, "hrnet_w64_cls", "w64", pretrained, **kwargs)


__getattr__ = deprecated_attributes(__name__, "HRNetFeatures")  # the 0.2 features class, now BackboneFeatures
