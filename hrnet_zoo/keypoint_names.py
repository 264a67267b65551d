"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.keypoint_names.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.keypoint_names import flip_indices_from_pairs, flip_pairs_from_names, names_have_sides

warnings.warn("hrnet_zoo.keypoint_names is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.keypoint_names", DeprecationWarning, stacklevel=2)

__all__ = [
    "flip_indices_from_pairs", "flip_pairs_from_names", "names_have_sides",
]
