"""Top-down pose, each idea once: read from the bottom up, each module uses only those above it.

* `hrnet_zoo.pose.presets`, `.keypoint_names`, `.keypoint_categories` → `.keypoint_set` (`KeypointSet`: names,
  skeleton, flip pairs, OKS sigmas) and `.oks`;
* `hrnet_zoo.pose.geometry`: box → centre/scale, the affine maps image ↔ crop, crop sampling;
* `hrnet_zoo.pose.preprocess`: image → float tensor and crop normalisation, built from a model's
  ``pretrained_cfg`` (`Preprocess.from_cfg()`);
* `hrnet_zoo.pose.inference` (`predict_keypoints()`, the batched core), `.estimator` (`PoseEstimator`,
  detector + pose model) and `.visualize`.

The dataset (`hrnet_zoo.data`), evaluation and int8 calibration cut and normalise crops with the same
geometry and preprocessing. Nothing here imports ``data``, ``training``, ``evaluation`` or ``cli``
(tests/test_layering.py). Heatmap codecs stay in `hrnet_zoo.codecs`: heads and the training loss use them
without the rest of this package.

The names below load on first use, so that `hrnet_zoo.pretrained_cfg` (which needs `.keypoint_set`) and
the modules that need it (`.preprocess`, `.inference`) import in either order.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time __getattr__ imports on first use
    from hrnet_zoo.pose.estimator import PoseEstimator, PoseInstance
    from hrnet_zoo.pose.inference import iter_predictions, predict_heatmaps, predict_keypoints
    from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS, KEYPOINT_SETS, MPII_KEYPOINTS, KeypointSet
    from hrnet_zoo.pose.oks import oks
    from hrnet_zoo.pose.preprocess import Preprocess
    from hrnet_zoo.pose.visualize import draw_keypoints, plot_heatmaps

_HOMES = {
    "PoseEstimator": "estimator", "PoseInstance": "estimator",
    "iter_predictions": "inference", "predict_heatmaps": "inference", "predict_keypoints": "inference",
    "COCO_KEYPOINTS": "keypoint_set", "KEYPOINT_SETS": "keypoint_set", "MPII_KEYPOINTS": "keypoint_set",
    "KeypointSet": "keypoint_set", "oks": "oks", "Preprocess": "preprocess",
    "draw_keypoints": "visualize", "plot_heatmaps": "visualize",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'hrnet_zoo.pose' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hrnet_zoo.pose.{_HOMES[name]}"), name)
