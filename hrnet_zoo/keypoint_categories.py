"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.keypoint_categories.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.keypoint_categories import category_group, category_skeleton, checked_sigmas, describe_category

warnings.warn("hrnet_zoo.keypoint_categories is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.keypoint_categories", DeprecationWarning, stacklevel=2)

__all__ = [
    "category_group", "category_skeleton", "checked_sigmas", "describe_category",
]
