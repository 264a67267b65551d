"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.presets.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.presets import ALIASES, COCO_NAMES, COCO_SIGMAS, HAND21_NAMES, preset_data, preset_names

warnings.warn("hrnet_zoo.keypoint_presets is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.presets", DeprecationWarning, stacklevel=2)

__all__ = [
    "ALIASES", "COCO_NAMES", "COCO_SIGMAS", "HAND21_NAMES", "preset_data", "preset_names",
]
