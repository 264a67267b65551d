"""Moved to `hrnet_zoo.pose.geometry` (pixels: hrnet_zoo.pose.preprocess): this module re-exports its names so
that ``hrnet_zoo.crops`` imports keep working."""
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

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "MAX_BOX_COORDINATE", "PIXEL_STD", "affine_points", "box_crop_transforms",
    "box_to_center_scale", "crop_images", "get_affine_transform", "image_to_tensor", "normalize",
]
