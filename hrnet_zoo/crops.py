"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.geometry (pixels: hrnet_zoo.pose.preprocess).

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.geometry import (
    MAX_BOX_COORDINATE,
    PIXEL_STD,
    affine_points,
    box_crop_transforms,
    box_to_center_scale,
    crop_images,
    get_affine_transform,
)
from hrnet_zoo.pose.preprocess import image_to_tensor, normalize
from hrnet_zoo.pretrained_cfg import IMAGENET_MEAN, IMAGENET_STD

warnings.warn("hrnet_zoo.crops is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.geometry (pixels: hrnet_zoo.pose.preprocess)",
              DeprecationWarning, stacklevel=2)

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "MAX_BOX_COORDINATE", "PIXEL_STD", "affine_points", "box_crop_transforms",
    "box_to_center_scale", "crop_images", "get_affine_transform", "image_to_tensor", "normalize",
]
