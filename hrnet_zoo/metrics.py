"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.evaluation.metrics.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.evaluation.metrics import *  # noqa: F401,F403
from hrnet_zoo.evaluation.metrics import _annotated_boxes, _matched_distances, _nme, _pck  # noqa: F401

warnings.warn("hrnet_zoo.metrics is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.evaluation.metrics", DeprecationWarning, stacklevel=2)
