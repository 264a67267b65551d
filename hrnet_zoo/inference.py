"""Moved to `hrnet_zoo.pose.inference` (geometry: `hrnet_zoo.pose.geometry`, pixels:
`hrnet_zoo.pose.preprocess`): this module re-exports its names so that ``hrnet_zoo.inference`` imports
keep working."""
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

__all__ = [
    "CropSettings", "IMAGENET_MEAN", "IMAGENET_STD", "MAX_BOX_COORDINATE", "PIXEL_STD", "PoseResult",
    "PretrainedCfg", "affine_points", "box_crop_transforms", "box_to_center_scale", "crop_images", "crop_settings",
    "flip_test_decision", "get_affine_transform", "image_to_tensor", "iter_predictions", "keypoint_summary",
    "model_cfg", "normalize", "pose_cfg", "predict_heatmaps", "predict_keypoints",
]
