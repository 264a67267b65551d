"""Moved to `hrnet_zoo.pose.oks`: this module re-exports its names so
that ``hrnet_zoo.oks`` imports keep working."""
from hrnet_zoo.pose.oks import oks

__all__ = [
    "oks",
]
