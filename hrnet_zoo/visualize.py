"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.visualize.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.visualize import draw_keypoints, plot_heatmaps

warnings.warn("hrnet_zoo.visualize is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.visualize", DeprecationWarning, stacklevel=2)

__all__ = [
    "draw_keypoints", "plot_heatmaps",
]
