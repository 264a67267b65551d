"""Backbones: feature extractors that return lists of multi-resolution maps."""
from hrnet_zoo.backbones.hrnet import HRNET_CONFIGS, HighResolutionModule, HRNetBackbone, HRNetConfig
from hrnet_zoo.backbones.hourglass import Hourglass, HourglassStem, PreActResidual
from hrnet_zoo.backbones.resnet import RESNET_CONFIGS, ResNetBackbone

__all__ = ["HRNET_CONFIGS", "HRNetBackbone", "HRNetConfig", "HighResolutionModule"]
__all__ += ["Hourglass", "HourglassStem", "PreActResidual", "RESNET_CONFIGS", "ResNetBackbone"]
