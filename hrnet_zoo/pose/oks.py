"""Object keypoint similarity (OKS) between predictions and ground truths, as COCO computes it."""
from __future__ import annotations

import numpy as np
import torch

from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pose.presets import COCO_SIGMAS


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
        raise InvalidArgumentError(f"expected predictions P×K×2|3 and ground truth G×K×3, got {tuple(pred.shape)} "
                         f"and {tuple(gt.shape)}")
    if pred.shape[1] != gt.shape[1] or len(sigmas) != gt.shape[1]:
        raise InvalidArgumentError(f"keypoint counts differ: predictions {pred.shape[1]}, ground truth {gt.shape[1]}, "
                         f"sigmas {len(sigmas)}")
    area = torch.as_tensor(np.asarray(areas, dtype=np.float64)).reshape(-1)
    if area.numel() != gt.shape[0]:
        raise InvalidArgumentError(f"expected {gt.shape[0]} areas, got {area.numel()}")
    variances = (2 * torch.as_tensor(sigmas, dtype=torch.float64)) ** 2
    visible = gt[..., 2] > 0                                            # G×K
    dx = pred[:, None, :, 0] - gt[None, :, :, 0]                        # P×G×K
    dy = pred[:, None, :, 1] - gt[None, :, :, 1]
    unlabelled = ~visible.any(dim=1)
    if unlabelled.any():
        if gt_boxes is None:
            raise InvalidArgumentError("ground truths without labelled keypoints need gt_boxes (COCO scores them "
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
