"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.pose.oks.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.pose.oks import oks

warnings.warn("hrnet_zoo.oks is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.pose.oks", DeprecationWarning, stacklevel=2)

__all__ = [
    "oks",
]
