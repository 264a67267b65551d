"""Boxes and their filtering: IoU, greedy non-maximum suppression, and `filter_detections()`.

Every function takes and returns boxes as ``x, y, w, h`` in image pixels (COCO's convention); a
detection row is ``x, y, w, h, score``. NumPy only: torchvision's NMS would be a dependency whose
registry wheel does not load against the CPU build of torch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from hrnet_zoo.errors import InvalidArgumentError


def as_detections(dets, where: str = "detections") -> np.ndarray:
    """An N×5 float64 array ``x, y, w, h, score`` from anything array-like (N×4 gets score 1)."""
    arr = np.asarray(dets, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 5))
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise InvalidArgumentError(f"{where} must be N×5 (x, y, w, h, score) or N×4, got shape {arr.shape}")
    if arr.shape[1] == 4:
        arr = np.concatenate([arr, np.ones((len(arr), 1))], axis=1)
    return arr


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """IoU of every box of ``boxes_a`` (A×4 xywh) with every box of ``boxes_b`` (B×4): A×B in [0, 1]."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    The highest-scoring box is kept, every remaining box overlapping it with IoU > ``iou_threshold``
    is dropped, and so on with the next highest remaining box (ties: the earlier row first).

    Args:
        boxes: N×4 ``x, y, w, h``.
        scores: N scores.
        iou_threshold: in [0, 1].

    Returns:
        the indices of the kept boxes, highest score first (int64).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64).reshape(-1), kind="stable")
    keep = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        if order.size:
            order = order[box_iou(boxes[best:best + 1], boxes[order])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def _check_fraction(value, name: str) -> None:
    if value is not None and not 0.0 <= float(value) <= 1.0:
        raise InvalidArgumentError(f"{name} must lie in [0, 1], got {value}")


def kept_indices(dets: np.ndarray, score_threshold: float = 0.0, labels=None,
                 class_ids: Sequence[int] | None = None, nms_iou: float | None = None) -> np.ndarray:
    """The rows of N×5 ``dets`` that `filter_detections()` keeps, highest score first."""
    _check_fraction(nms_iou, "nms_iou")
    finite = np.isfinite(dets).all(axis=1)
    valid = finite & (dets[:, 2] > 0) & (dets[:, 3] > 0) & (dets[:, 4] >= score_threshold)
    if class_ids is not None:
        if labels is None:
            raise InvalidArgumentError("a class filter (class_ids) needs the detections' labels")
        valid &= np.isin(np.asarray(labels).reshape(-1), np.asarray(list(class_ids)))
    index = np.flatnonzero(valid)
    if nms_iou is None or index.size == 0:
        return index[np.argsort(-dets[index, 4], kind="stable")]
    boxes = dets[index, :4].copy()
    if labels is not None:  # class-aware: shift each class far away so that classes never overlap
        span = 2.0 * float(np.abs(boxes).max() + boxes[:, 2:].max()) + 1.0
        boxes[:, :2] += np.asarray(labels).reshape(-1)[index, None] * span
    return index[nms(boxes, dets[index, 4], nms_iou)]


def filter_detections(dets, score_threshold: float = 0.0, *, labels=None, class_ids: Sequence[int] | None = None,
                      nms_iou: float | None = None) -> np.ndarray:
    """What a detector's boxes go through before crops: score threshold, class filter, NMS.

    Boxes with a non-finite value or no area are dropped too.

    Args:
        dets: N×5 ``x, y, w, h, score`` (N×4: score 1).
        score_threshold: keep scores ``>=`` this.
        labels: N class ids, needed by ``class_ids``; with them NMS is per class.
        class_ids: keep only these classes (None: all).
        nms_iou: NMS IoU threshold (None: no NMS).

    Returns:
        M×5 float64, highest score first.
    """
    dets = as_detections(dets)
    if labels is not None and len(np.asarray(labels).reshape(-1)) != len(dets):
        raise InvalidArgumentError(f"got {len(np.asarray(labels).reshape(-1))} labels for {len(dets)} detections")
    return dets[kept_indices(dets, score_threshold, labels, class_ids, nms_iou)]
