"""Backbones: feature extractors that return lists of multi-resolution maps."""
from hrnet_zoo.backbones.hrnet import HRNET_CONFIGS, HighResolutionModule, HRNetBackbone, HRNetConfig

__all__ = ["HRNET_CONFIGS", "HRNetBackbone", "HRNetConfig", "HighResolutionModule"]
