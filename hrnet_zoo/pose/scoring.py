"""Instance scores of top-down predictions, as the official test code computes them.

`hrnet_zoo.pose.estimator.PoseEstimator` scores its people with `rescore()`; COCO evaluation ranks its
results by the same rule (the official ``validate``/``evaluate`` pair).
"""
from __future__ import annotations

import numpy as np

#: The official test threshold of a confident keypoint (``w32_256x192_adam_lr1e-3.yaml``, TEST.IN_VIS_THRE).
IN_VIS_THRESHOLD = 0.2


def rescore(keypoints, box_scores, in_vis_thre: float = IN_VIS_THRESHOLD) -> np.ndarray:
    """Official rescoring: mean of the keypoint scores above ``in_vis_thre`` (0 if none) × box score.

    ``keypoints``: N×K×3 (x, y, score); ``box_scores``: N. Returns N float64 scores.
    """
    kpt_scores = np.asarray(keypoints, dtype=np.float64).reshape(len(box_scores), -1, 3)[..., 2]
    confident = kpt_scores > in_vis_thre
    count = confident.sum(1)
    mean = np.where(count > 0, (kpt_scores * confident).sum(1) / np.maximum(count, 1), 0.0)
    return mean * np.asarray(box_scores, dtype=np.float64)
