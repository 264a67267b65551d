"""Moved to `hrnet_zoo.pose.keypoint_categories`: this module re-exports its names so
that ``hrnet_zoo.keypoint_categories`` imports keep working."""
from hrnet_zoo.pose.keypoint_categories import category_group, category_skeleton, checked_sigmas, describe_category

__all__ = [
    "category_group", "category_skeleton", "checked_sigmas", "describe_category",
]
