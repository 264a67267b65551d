"""Moved to `hrnet_zoo.pose.keypoint_names`: this module re-exports its names so
that ``hrnet_zoo.keypoint_names`` imports keep working."""
from hrnet_zoo.pose.keypoint_names import flip_indices_from_pairs, flip_pairs_from_names, names_have_sides

__all__ = [
    "flip_indices_from_pairs", "flip_pairs_from_names", "names_have_sides",
]
