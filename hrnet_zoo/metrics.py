"""Moved to `hrnet_zoo.evaluation.metrics`; this path re-exports it."""
from hrnet_zoo.evaluation.metrics import *  # noqa: F401,F403
from hrnet_zoo.evaluation.metrics import _annotated_boxes, _matched_distances, _nme, _pck  # noqa: F401
