"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.keypoint_set (oks: hrnet_zoo.pose.oks).

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

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

warnings.warn("hrnet_zoo.keypoints is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.keypoint_set (oks: hrnet_zoo.pose.oks)", DeprecationWarning, stacklevel=2)

__all__ = [
    "COCO_FLIP_PAIRS", "COCO_KEYPOINTS", "COCO_SIGMAS", "DEFAULT_SIGMA", "KEYPOINT_SETS", "KeypointChoice",
    "KeypointSet", "METRIC_NAMES", "MPII_FLIP_PAIRS", "MPII_KEYPOINTS", "describe_keypoints",
    "flip_indices_from_pairs", "flip_pairs_from_names", "keypoint_set_for", "list_presets", "names_have_sides",
    "oks", "resolve_coco_keypoints", "resolve_keypoint_set",
]
