"""Keypoint sets (COCO-17, MPII-16): names, skeleton, flip pairs, OKS sigmas, and the OKS similarity.

Indices are 0-based. Flip pairs are those of the official HRNet datasets (``lib/dataset/coco.py``,
``lib/dataset/mpii.py``); COCO sigmas are the COCO keypoint-evaluation constants. MPII has no official
OKS; its sigmas are the ones mmpose ships for MPII (``configs/_base_/datasets/mpii.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class KeypointSet:
    """Metadata of one keypoint layout."""

    name: str
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_indices(self) -> list[int]:
        """``flip_indices[k]`` is the keypoint that ``k`` becomes in a mirrored image."""
        return flip_indices_from_pairs(self.flip_pairs, self.num_keypoints)


COCO_KEYPOINTS = KeypointSet(
    name="coco",
    keypoint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle",
    ),
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
        (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
            0.087, 0.087, 0.089, 0.089),
)

MPII_KEYPOINTS = KeypointSet(
    name="mpii",
    keypoint_names=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
        "left_elbow", "left_wrist",
    ),
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11), (11, 10),
        (8, 13), (13, 14), (14, 15),
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    sigmas=(0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179,
            0.179, 0.072, 0.062),
)

KEYPOINT_SETS = {"coco": COCO_KEYPOINTS, "mpii": MPII_KEYPOINTS}

COCO_FLIP_PAIRS = COCO_KEYPOINTS.flip_pairs
MPII_FLIP_PAIRS = MPII_KEYPOINTS.flip_pairs
COCO_SKELETON = COCO_KEYPOINTS.skeleton
MPII_SKELETON = MPII_KEYPOINTS.skeleton
COCO_SIGMAS = COCO_KEYPOINTS.sigmas


def keypoint_set_for(num_keypoints: int) -> KeypointSet | None:
    """The built-in set with that many keypoints (17 → COCO, 16 → MPII), else ``None``."""
    for kset in KEYPOINT_SETS.values():
        if kset.num_keypoints == num_keypoints:
            return kset
    return None


def flip_indices_from_pairs(flip_pairs, num_keypoints: int) -> list[int]:
    """Left/right pairs → a permutation of ``range(num_keypoints)``; checks the pairs are valid."""
    indices = list(range(num_keypoints))
    seen = set()
    for pair in flip_pairs:
        if len(pair) != 2:
            raise ValueError(f"flip pairs must be (left, right) index pairs, got {pair!r}")
        a, b = (int(i) for i in pair)
        if not (0 <= a < num_keypoints and 0 <= b < num_keypoints):
            raise ValueError(f"flip pair {pair!r} is out of range for {num_keypoints} keypoints")
        if a in seen or b in seen:
            raise ValueError(f"keypoint in flip pair {pair!r} appears in more than one pair")
        seen.update((a, b))
        indices[a], indices[b] = b, a
    return indices


def oks(predictions, ground_truth, areas, sigmas=COCO_SIGMAS, gt_boxes=None) -> torch.Tensor:
    """Object keypoint similarity between every prediction and every ground truth, as COCO computes it.

    Args:
        predictions: P×K×2 (or P×K×3; a third column is ignored) keypoints in image pixels.
        ground_truth: G×K×3 keypoints with COCO visibility in the last column (> 0 means labelled).
        areas: G object areas (segment area in COCO; pixels²).
        sigmas: K per-keypoint constants (COCO's by default).
        gt_boxes: optional G×4 xywh boxes. A ground truth with no labelled keypoint is scored, as in
            ``COCOeval.computeOks``, by the distance of each prediction outside a box twice the size
            of its own; those ground truths need a box.

    Returns:
        P×G float64 tensor of OKS values in [0, 1].
    """
    pred = torch.as_tensor(np.asarray(predictions, dtype=np.float64))
    gt = torch.as_tensor(np.asarray(ground_truth, dtype=np.float64))
    if pred.ndim != 3 or pred.shape[-1] not in (2, 3) or gt.ndim != 3 or gt.shape[-1] != 3:
        raise ValueError(f"expected predictions P×K×2|3 and ground truth G×K×3, got {tuple(pred.shape)} "
                         f"and {tuple(gt.shape)}")
    if pred.shape[1] != gt.shape[1] or len(sigmas) != gt.shape[1]:
        raise ValueError(f"keypoint counts differ: predictions {pred.shape[1]}, ground truth {gt.shape[1]}, "
                         f"sigmas {len(sigmas)}")
    area = torch.as_tensor(np.asarray(areas, dtype=np.float64)).reshape(-1)
    if area.numel() != gt.shape[0]:
        raise ValueError(f"expected {gt.shape[0]} areas, got {area.numel()}")
    variances = (2 * torch.as_tensor(sigmas, dtype=torch.float64)) ** 2
    visible = gt[..., 2] > 0                                            # G×K
    dx = pred[:, None, :, 0] - gt[None, :, :, 0]                        # P×G×K
    dy = pred[:, None, :, 1] - gt[None, :, :, 1]
    unlabelled = ~visible.any(dim=1)
    if unlabelled.any():
        if gt_boxes is None:
            raise ValueError("ground truths without labelled keypoints need gt_boxes (COCO scores them "
                             "against a box twice their size)")
        box = torch.as_tensor(np.asarray(gt_boxes, dtype=np.float64)).reshape(-1, 4)
        x0, x1 = box[:, 0] - box[:, 2], box[:, 0] + 2 * box[:, 2]
        y0, y1 = box[:, 1] - box[:, 3], box[:, 1] + 2 * box[:, 3]
        px, py = pred[:, None, :, 0], pred[:, None, :, 1]
        out_x = (x0[None, :, None] - px).clamp(min=0) + (px - x1[None, :, None]).clamp(min=0)
        out_y = (y0[None, :, None] - py).clamp(min=0) + (py - y1[None, :, None]).clamp(min=0)
        dx = torch.where(unlabelled[None, :, None], out_x, dx)
        dy = torch.where(unlabelled[None, :, None], out_y, dy)
    e = (dx**2 + dy**2) / variances / (area[None, :, None] + np.spacing(1)) / 2
    # Labelled keypoints only, or all of them for a ground truth without any (the box rule above).
    counted = (visible | unlabelled[:, None])[None].expand_as(e)
    return (torch.exp(-e) * counted).sum(-1) / counted.sum(-1)
