"""Rescoring and OKS-NMS the way the official evaluation does them (pure numpy and torch, no pycocotools).

Per image (deep-high-resolution-net.pytorch ``lib/dataset/coco.py`` ``COCODataset.evaluate``):

1. **rescoring** (`rescore()`, from `hrnet_zoo.pose.scoring`): a person's score is the mean score of
   its keypoints above ``in_vis_thre`` = 0.2 (0 when none is), times its box score (1 for
   ground-truth boxes);
2. **OKS-NMS** (``lib/nms/nms.py`` ``oks_nms``, threshold ``oks_thre`` = 0.9): keep the best scored
   person, drop the others whose OKS with it exceeds 0.9, repeat. The OKS is the package's one
   implementation, `hrnet_zoo.pose.oks.oks()`, fed as the official ``oks_iou`` calls its formula
   (`oks_overlaps()`): the mean padded crop area (``scale · 200`` squared) of the pair as the object
   area, and every keypoint, as the official evaluation's call does.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from hrnet_zoo.pose.oks import oks
from hrnet_zoo.pose.scoring import IN_VIS_THRESHOLD, rescore

#: The official OKS-NMS threshold ``oks_thre`` (``w32_256x192_adam_lr1e-3.yaml``, TEST section).
OKS_THRESHOLD = 0.9


def oks_overlaps(keypoints: np.ndarray, index: int, others, areas, sigmas,
                 in_vis_thre: float | None = None) -> np.ndarray:
    """OKS of person ``index`` with each of ``others``, equal to the official ``oks_iou``.

    The official formula is `hrnet_zoo.pose.oks.oks()` with the others as the ground truth: the
    object area is the mean area of each pair, and a keypoint counts when the *other* person scores it
    above ``in_vis_thre`` (the official ``list(vg > t) and list(vd > t)`` evaluates to the second
    list), or always with ``in_vis_thre=None``. An other with no keypoint counted has OKS 0 (the
    official's empty mean), not COCO's box rule for unlabelled people.

    Args:
        keypoints: N×K×3 (x, y, score); index: the kept person; others: M indices; areas: N.
        sigmas: K OKS sigmas.

    Returns:
        M float64 OKS values.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    others = np.asarray(others, dtype=np.intp).reshape(-1)
    if len(others) == 0 or keypoints.shape[1] == 0:
        return np.zeros(len(others))
    areas = np.asarray(areas, dtype=np.float64)
    candidates = keypoints[others]
    if in_vis_thre is None:
        counted = np.ones(candidates.shape[:2], dtype=bool)
    else:
        counted = candidates[..., 2] > in_vis_thre
    any_counted = counted.any(1)
    # Marking an uncounted person's keypoints labelled keeps oks() off its box rule; its value is zeroed.
    visibility = (counted | ~any_counted[:, None]).astype(np.float64)
    ground_truth = np.concatenate((candidates[..., :2], visibility[..., None]), axis=-1)
    pair_areas = (areas[index] + areas[others]) / 2
    similarity = oks(keypoints[index:index + 1], ground_truth, pair_areas, sigmas).numpy()[0]
    return np.where(any_counted, similarity, 0.0)


def oks_nms(keypoints, scores, areas, sigmas, threshold: float = OKS_THRESHOLD,
            in_vis_thre: float | None = None) -> list[int]:
    """Official greedy OKS-NMS: indices kept, best score first.

    Args:
        keypoints: N×K×3 (x, y, score); scores: N; areas: N (the official uses the padded crop area).
        sigmas: K OKS sigmas.
        threshold: a person whose OKS with a kept one is above it is dropped (0.9).
        in_vis_thre: None (the official evaluation's call) counts every keypoint.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if len(keypoints) == 0:
        return []
    scores = np.asarray(scores, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        overlaps = oks_overlaps(keypoints, i, order[1:], areas, sigmas, in_vis_thre)
        order = order[1:][overlaps <= threshold]
    return keep


def postprocess(people: list[dict], category_id, sigmas, in_vis_thre: float = IN_VIS_THRESHOLD,
                oks_thre: float = OKS_THRESHOLD) -> list[dict]:
    """Per-image rescoring and OKS-NMS of raw predictions → COCO keypoint results.

    ``people``: dicts with ``image_id``, ``keypoints`` (K×3), ``box_score`` and ``area``.
    """
    by_image = defaultdict(list)
    for person in people:
        by_image[person["image_id"]].append(person)
    results = []
    for image_id, group in by_image.items():
        keypoints = np.stack([np.asarray(p["keypoints"], dtype=np.float64) for p in group])
        scores = rescore(keypoints, [p["box_score"] for p in group], in_vis_thre)
        keep = oks_nms(keypoints, scores, [p["area"] for p in group], sigmas, oks_thre)
        for i in keep or range(len(group)):
            results.append({"image_id": image_id, "category_id": category_id,
                            "keypoints": [round(float(v), 3) for v in keypoints[i].reshape(-1)],
                            "score": float(scores[i])})
    return results


__all__ = ["IN_VIS_THRESHOLD", "OKS_THRESHOLD", "oks_nms", "oks_overlaps", "postprocess", "rescore"]
