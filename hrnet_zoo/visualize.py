"""Moved to `hrnet_zoo.pose.visualize`: this module re-exports its names so
that ``hrnet_zoo.visualize`` imports keep working."""
from hrnet_zoo.pose.visualize import draw_keypoints, plot_heatmaps

__all__ = [
    "draw_keypoints", "plot_heatmaps",
]
