"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.estimator.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.estimator import (
    DEFAULT_NMS_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    PoseEstimator,
    PoseInstance,
    rgb_array,
)

warnings.warn("hrnet_zoo.pose_estimator is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.estimator", DeprecationWarning, stacklevel=2)

__all__ = [
    "DEFAULT_NMS_THRESHOLD", "DEFAULT_SCORE_THRESHOLD", "PoseEstimator", "PoseInstance", "rgb_array",
]
