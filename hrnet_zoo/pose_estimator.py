"""Moved to `hrnet_zoo.pose.estimator`: this module re-exports its names so
that ``hrnet_zoo.pose_estimator`` imports keep working."""
from hrnet_zoo.pose.estimator import (
    DEFAULT_NMS_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    PoseEstimator,
    PoseInstance,
    rgb_array,
)

__all__ = [
    "DEFAULT_NMS_THRESHOLD", "DEFAULT_SCORE_THRESHOLD", "PoseEstimator", "PoseInstance", "rgb_array",
]
