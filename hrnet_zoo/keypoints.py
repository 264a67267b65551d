"""Moved to `hrnet_zoo.pose.keypoint_set`: this module re-exports its names so
that ``hrnet_zoo.keypoints`` imports keep working."""
from hrnet_zoo.pose.keypoint_set import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINTS,
    COCO_SIGMAS,
    DEFAULT_SIGMA,
    KEYPOINT_SETS,
    METRIC_NAMES,
    MPII_FLIP_PAIRS,
    MPII_KEYPOINTS,
    KeypointChoice,
    KeypointSet,
    describe_keypoints,
    flip_indices_from_pairs,
    flip_pairs_from_names,
    keypoint_set_for,
    list_presets,
    names_have_sides,
    resolve_coco_keypoints,
    resolve_keypoint_set,
)
from hrnet_zoo.pose.oks import oks

__all__ = [
    "COCO_FLIP_PAIRS", "COCO_KEYPOINTS", "COCO_SIGMAS", "DEFAULT_SIGMA", "KEYPOINT_SETS", "KeypointChoice",
    "KeypointSet", "METRIC_NAMES", "MPII_FLIP_PAIRS", "MPII_KEYPOINTS", "describe_keypoints",
    "flip_indices_from_pairs", "flip_pairs_from_names", "keypoint_set_for", "list_presets", "names_have_sides",
    "oks", "resolve_coco_keypoints", "resolve_keypoint_set",
]
