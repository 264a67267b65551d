"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.inference
(geometry: hrnet_zoo.pose.geometry, pixels: hrnet_zoo.pose.preprocess).

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
from hrnet_zoo.pose.inference import (
    CropSettings,
    PoseResult,
    crop_settings,
    flip_test_decision,
    iter_predictions,
    keypoint_summary,
    model_cfg,
    predict_heatmaps,
    predict_keypoints,
)
from hrnet_zoo.pose.preprocess import image_to_tensor, normalize
from hrnet_zoo.pretrained_cfg import IMAGENET_MEAN, IMAGENET_STD, PretrainedCfg, pose_cfg

warnings.warn("hrnet_zoo.inference is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.inference (geometry: hrnet_zoo.pose.geometry, "
              "pixels: hrnet_zoo.pose.preprocess)",
              DeprecationWarning, stacklevel=2)

__all__ = [
    "CropSettings", "IMAGENET_MEAN", "IMAGENET_STD", "MAX_BOX_COORDINATE", "PIXEL_STD", "PoseResult",
    "PretrainedCfg", "affine_points", "box_crop_transforms", "box_to_center_scale", "crop_images", "crop_settings",
    "flip_test_decision", "get_affine_transform", "image_to_tensor", "iter_predictions", "keypoint_summary",
    "model_cfg", "normalize", "pose_cfg", "predict_heatmaps", "predict_keypoints",
]
