"""Distance metrics of keypoint predictions: PCK, AUC, NME and per-keypoint errors.

Predictions are matched one to one with the ground-truth people of their image, greedily by OKS
(the best pair first, then the best of the rest): a person without a prediction of its own is
*missing* (counted in ``unmatched``), never matched with another person's prediction.

* **PCK@α**: the share of labelled keypoints within α · max(w, h) of the ground truth, where w, h is
  the annotated box (the file's ``bbox``); a missing person's keypoints are all wrong.
* **AUC**: the area under the PCK curve for α from 0 to 0.5 (21 evenly spaced thresholds, trapezoidal
  rule), divided by 0.5, so that 1 means every keypoint exact. Hand data sets report PCK over a range
  of thresholds this way; theirs are often in pixels or millimetres, ours are relative to the box so
  that the figure does not depend on the image size.
* **NME**: the mean over labelled keypoints of the error divided by a normaliser: the distance between
  the two ground-truth keypoints of the keypoint set's ``nme_pair`` (faces: the outer eye corners, the
  inter-ocular distance) when it has one, else the box size sqrt(w · h) (hands, animals). A person
  whose pair is not labelled, or a missing person, is left out of NME.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from hrnet_zoo.pose.keypoint_set import DEFAULT_SIGMA
from hrnet_zoo.pose.oks import oks

PCK_THRESHOLDS = (0.05, 0.1)
#: The thresholds of the AUC: 0, 0.025, …, 0.5 (relative to max(box w, h)).
AUC_THRESHOLDS = tuple(np.linspace(0.0, 0.5, 21).tolist())
METRIC_NAMES = ("AP", "PCK", "AUC", "NME")


def has_oks(keypoint_set) -> bool:
    """Whether the keypoint set carries OKS sigmas of its own (not only the placeholder default)."""
    return any(abs(float(s) - DEFAULT_SIGMA) > 1e-12 for s in keypoint_set.sigmas)


def conventional_metrics(keypoint_set) -> tuple[str, ...]:
    """The metrics a keypoint set is judged by: its ``metrics`` (``("AP",)`` when it names none), and
    AP whenever it has OKS sigmas of its own."""
    names = tuple(getattr(keypoint_set, "metrics", None) or ("AP",))
    if "AP" not in names and has_oks(keypoint_set):
        names = ("AP",) + names
    return names


def nme_pair_indices(keypoint_set):
    """``(i, j)`` of the keypoint set's ``nme_pair`` (indices or names), or None."""
    pair = getattr(keypoint_set, "nme_pair", None)
    if not pair:
        return None
    names = list(keypoint_set.keypoint_names)
    return tuple(names.index(p) if isinstance(p, str) else int(p) for p in pair)


def match_people(predictions: np.ndarray, ground_truth: np.ndarray, areas, sigmas) -> dict:
    """One-to-one matching by OKS, best pair first.

    Args:
        predictions: P×K×3 (x, y, score); ground_truth: G×K×3 (x, y, visibility); areas: G.

    Returns:
        ``{ground-truth index: prediction index}`` for the matched ground truths.
    """
    if len(predictions) == 0 or len(ground_truth) == 0:
        return {}
    similarity = oks(predictions, ground_truth, areas, sigmas).numpy()      # P×G
    order = np.argsort(-similarity, axis=None, kind="stable")
    matched, used = {}, set()
    for flat in order:
        p, g = divmod(int(flat), similarity.shape[1])
        if g not in matched and p not in used:
            matched[g] = p
            used.add(p)
            if len(matched) == min(similarity.shape):
                break
    return matched


def _annotated_boxes(coco) -> dict:
    """``{annotation id: [x, y, w, h]}`` as written in the file (the box PCK and NME are normalised by)."""
    return {ann["id"]: ann["bbox"] for ann in coco.data.get("annotations", [])
            if isinstance(ann, dict) and "id" in ann and "bbox" in ann}


def _matched_distances(results, coco):
    """Per ground-truth person: ``(record, annotated box, K distances or None when missing)``."""
    predictions = defaultdict(list)
    for r in results:
        predictions[r["image_id"]].append(np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3))
    by_image = defaultdict(list)
    for record in coco.records:
        by_image[record.image_id].append(record)
    boxes = _annotated_boxes(coco)
    people = []
    for image_id, records in by_image.items():
        candidates = np.stack(predictions[image_id]) if predictions.get(image_id) else np.zeros((0, 1, 3))
        gt = np.stack([np.concatenate((r.joints, r.visible[:, None]), 1) for r in records])
        matched = match_people(candidates, gt, [r.area for r in records], coco.keypoint_set.sigmas)
        for g, record in enumerate(records):
            box = boxes.get(record.ann_id, record.box)
            distance = None
            if g in matched:
                distance = np.linalg.norm(candidates[matched[g]][:, :2] - record.joints, axis=1)
            people.append((record, box, distance))
    return people


def _pck(people, alpha: float) -> float:
    hits = labelled = 0
    for record, box, distance in people:
        visible = record.visible > 0
        labelled += int(visible.sum())
        if distance is not None:
            size = max(float(box[2]), float(box[3]), 1e-6)
            hits += int((distance[visible] <= alpha * size).sum())
    return hits / labelled if labelled else 0.0


def _nme(people, pair) -> float | None:
    total, count = 0.0, 0
    for record, box, distance in people:
        if distance is None:
            continue
        if pair is None:
            norm = float(np.sqrt(max(float(box[2]) * float(box[3]), 1e-12)))
        else:
            i, j = pair
            if not (record.visible[i] > 0 and record.visible[j] > 0):
                continue
            norm = float(np.linalg.norm(record.joints[i] - record.joints[j]))
            if norm <= 0:
                continue
        visible = record.visible > 0
        total += float((distance[visible] / norm).sum())
        count += int(visible.sum())
    return total / count if count else None


def keypoint_errors(results, coco) -> dict:
    """PCK@0.05/0.1, AUC, NME and each keypoint's mean error in pixels of validated ``results``
    against ``coco`` (a `CocoKeypoints`), with the matching of the module docstring.

    Returns:
        ``PCK@0.05``, ``PCK@0.1``, ``AUC``, ``NME`` (None when no person can be normalised),
        ``NME_normaliser``, ``mean_error_px``, ``per_keypoint_error_px`` (None for a keypoint never
        labelled on a matched person), ``unmatched`` (ground-truth people with no prediction).
    """
    people = _matched_distances(results, coco)
    names = coco.keypoint_set.keypoint_names
    out = {f"PCK@{t}": _pck(people, t) for t in PCK_THRESHOLDS}
    curve = np.array([_pck(people, t) for t in AUC_THRESHOLDS])
    steps = np.diff(AUC_THRESHOLDS)
    out["AUC"] = float(((curve[1:] + curve[:-1]) / 2 * steps).sum() / AUC_THRESHOLDS[-1])
    pair = nme_pair_indices(coco.keypoint_set)
    out["NME"] = _nme(people, pair)
    out["NME_normaliser"] = ("sqrt(box w*h)" if pair is None else
                             f"distance {names[pair[0]]}-{names[pair[1]]}")
    error_sum, error_count = np.zeros(len(names)), np.zeros(len(names))
    for record, _, distance in people:
        if distance is not None:
            visible = record.visible > 0
            error_sum[visible] += distance[visible]
            error_count[visible] += 1
    out["mean_error_px"] = float(error_sum.sum() / error_count.sum()) if error_count.sum() else None
    out["per_keypoint_error_px"] = {n: (float(s / c) if c else None)
                                    for n, s, c in zip(names, error_sum, error_count)}
    out["unmatched"] = sum(distance is None for _, _, distance in people)
    return out
