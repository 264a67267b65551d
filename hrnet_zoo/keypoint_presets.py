"""Moved to `hrnet_zoo.pose.presets`: this module re-exports its names so
that ``hrnet_zoo.keypoint_presets`` imports keep working."""
from hrnet_zoo.pose.presets import ALIASES, COCO_NAMES, COCO_SIGMAS, HAND21_NAMES, preset_data, preset_names

__all__ = [
    "ALIASES", "COCO_NAMES", "COCO_SIGMAS", "HAND21_NAMES", "preset_data", "preset_names",
]
