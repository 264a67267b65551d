"""COCO keypoint evaluation the way the official numbers are made, for any keypoint set.

[`evaluate()`][hrnet_zoo.evaluation.evaluate] runs a pose model over the images of a COCO keypoint file, with the ground-truth
boxes or a detector's COCO results file, then follows the official ``COCODataset.evaluate``
(deep-high-resolution-net.pytorch ``lib/dataset/coco.py``):

1. **rescoring**: a person's score is the mean score of its keypoints above ``in_vis_thre`` = 0.2
   (0 when none is), times its box score (1 for ground-truth boxes);
2. **OKS-NMS** per image (``lib/nms/nms.py`` ``oks_nms``, threshold ``oks_thre`` = 0.9): keep the best
   scored person, drop the others whose OKS with it exceeds 0.9, repeat. The OKS here uses the padded
   crop area (``scale · 200`` squared, as the official) and every keypoint, as the official call does;
3. the results go to a COCO keypoint results file, scored by ``pycocotools``' ``COCOeval`` with
   ``iouType="keypoints"`` and ``params.kpt_oks_sigmas`` set to the dataset's sigmas.

AP figures are pycocotools' own (nothing re-implemented): ``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``,
``AR``, ``AR50``, ``AR75``, ``ARm``, ``ARl`` are ``COCOeval.stats`` in order. pycocotools gives −1
where a figure is undefined (no ground truth in that area range); that value is passed on unchanged.
A ground-truth annotation without ``area`` gets its box area (COCO's own files give the segment area),
and one without ``iscrowd`` gets 0.

Besides AP, `keypoint_errors()` reports PCK@0.05 and PCK@0.1 (a keypoint is correct within
α · max(box width, box height) of the ground truth) and each keypoint's mean error in pixels, matching
each ground truth with the prediction of highest OKS in its image.

pycocotools is imported only when scoring (``pip install pycocotools``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from collections import defaultdict, deque
from pathlib import Path

import numpy as np
import torch

from hrnet_zoo.data.coco import CocoKeypoints, ImageFolderDataset, load_coco_keypoints, read_json
from hrnet_zoo.errors import DatasetError
from hrnet_zoo.inference import PIXEL_STD, crop_settings, iter_predictions, model_cfg
from hrnet_zoo.keypoints import oks
from hrnet_zoo.weights.cache import write_atomically

#: The official test thresholds (``w32_256x192_adam_lr1e-3.yaml``, TEST section).
IN_VIS_THRESHOLD = 0.2
OKS_THRESHOLD = 0.9
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
PCK_THRESHOLDS = (0.05, 0.1)


# --------------------------------------------------------------------------------------------- rescoring, NMS
def rescore(keypoints, box_scores, in_vis_thre: float = IN_VIS_THRESHOLD) -> np.ndarray:
    """Official rescoring: mean of the keypoint scores above ``in_vis_thre`` (0 if none) × box score.

    ``keypoints``: N×K×3 (x, y, score); ``box_scores``: N. Returns N float64 scores.
    """
    kpt_scores = np.asarray(keypoints, dtype=np.float64).reshape(len(box_scores), -1, 3)[..., 2]
    confident = kpt_scores > in_vis_thre
    count = confident.sum(1)
    mean = np.where(count > 0, (kpt_scores * confident).sum(1) / np.maximum(count, 1), 0.0)
    return mean * np.asarray(box_scores, dtype=np.float64)


def oks_overlaps(keypoints: np.ndarray, index: int, others: np.ndarray, areas: np.ndarray, sigmas,
                 in_vis_thre: float | None = None) -> np.ndarray:
    """OKS of person ``index`` with each of ``others``, as the official ``oks_iou``: the mean area of
    the pair, and (with ``in_vis_thre``) only the keypoints the *other* person scores above it (the
    official ``list(vg > t) and list(vd > t)`` evaluates to the second list)."""
    variances = (2 * np.asarray(sigmas, dtype=np.float64)) ** 2
    d = keypoints[others, :, :2] - keypoints[index, None, :, :2]
    mean_area = (areas[index] + areas[others]) / 2 + np.spacing(1)
    e = (d ** 2).sum(-1) / variances / mean_area[:, None] / 2
    if in_vis_thre is None:
        return np.exp(-e).mean(1) if e.shape[1] else np.zeros(len(others))
    counted = keypoints[others, :, 2] > in_vis_thre
    n = counted.sum(1)
    return np.where(n > 0, (np.exp(-e) * counted).sum(1) / np.maximum(n, 1), 0.0)


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


# --------------------------------------------------------------------------------------------- scoring
def _ground_truth(coco: CocoKeypoints):
    """A pycocotools COCO of the file, with ``area``/``iscrowd`` filled where missing."""
    from pycocotools.coco import COCO

    data = copy.deepcopy(coco.data)
    for ann in data["annotations"]:
        if "area" not in ann and "bbox" in ann:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
        ann.setdefault("iscrowd", 0)
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def load_results(results, coco: CocoKeypoints, where: str = "results") -> list[dict]:
    """Validated COCO keypoint results (a list, or a JSON file of one): fields, K, known image ids."""
    if isinstance(results, (str, os.PathLike)):
        where = str(results)
        results = read_json(results, "results file")
    if not isinstance(results, list):
        raise DatasetError(f"{where}: a COCO results file is a JSON list of objects")
    k = coco.keypoint_set.num_keypoints
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            raise DatasetError(f"{where}: result [{i}] is not a JSON object")
        missing = [f for f in ("image_id", "keypoints", "score") if f not in result]
        if missing:
            raise DatasetError(f"{where}: result [{i}] (image id {result.get('image_id')}): missing field "
                               f"{', '.join(map(repr, missing))}")
        if result["image_id"] not in coco.images:
            raise DatasetError(f"{where}: result [{i}]: image id {result['image_id']} is not in {coco.path}")
        if not isinstance(result["keypoints"], list) or len(result["keypoints"]) != 3 * k:
            raise DatasetError(f"{where}: result [{i}] (image id {result['image_id']}): 'keypoints' must be "
                               f"{3 * k} numbers for the {k} keypoints of {coco.path}")
    return results


def coco_keypoint_ap(results, coco: CocoKeypoints, where: str = "results") -> dict:
    """pycocotools COCOeval (``keypoints``) of ``results`` against ``coco`` with its sigmas → the 10 stats.

    Results of other categories than the file's keypoint category are not scored; with no result at
    all every figure is 0 (pycocotools cannot load an empty list).
    """
    from pycocotools.cocoeval import COCOeval

    results = load_results(results, coco, where)
    results = [dict(r, category_id=r.get("category_id", coco.category_id)) for r in results]
    if not results:
        return {name: 0.0 for name in STAT_NAMES}
    gt = _ground_truth(coco)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(gt, dt, "keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(coco.keypoint_set.sigmas, dtype=np.float64)
        evaluator.params.catIds = [coco.category_id]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}


def keypoint_errors(results, coco: CocoKeypoints) -> dict:
    """PCK@0.05/0.1 (normalised by max(box w, h)) and each keypoint's mean error in pixels.

    Every usable ground truth (not crowd, a labelled keypoint) is matched with the prediction of
    highest OKS in its image; one with no prediction counts as wrong for PCK and is left out of the
    mean error (``unmatched`` counts them).
    """
    names = coco.keypoint_set.keypoint_names
    predictions = defaultdict(list)
    for r in results:
        predictions[r["image_id"]].append(np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3))
    hits = {t: 0 for t in PCK_THRESHOLDS}
    labelled = 0
    error_sum, error_count = np.zeros(len(names)), np.zeros(len(names))
    unmatched = 0
    for record in coco.records:
        visible = record.visible > 0
        labelled += int(visible.sum())
        candidates = predictions.get(record.image_id)
        if not candidates:
            unmatched += 1
            continue
        gt = np.concatenate((record.joints, record.visible[:, None]), 1)[None]
        similarity = oks(np.stack(candidates), gt, [record.area], coco.keypoint_set.sigmas)[:, 0]
        best = candidates[int(similarity.argmax())]
        distance = np.linalg.norm(best[:, :2] - record.joints, axis=1)
        size = max(record.box[2], record.box[3], 1e-6)
        for t in PCK_THRESHOLDS:
            hits[t] += int((distance[visible] <= t * size).sum())
        error_sum[visible] += distance[visible]
        error_count[visible] += 1
    out = {f"PCK@{t}": hits[t] / labelled if labelled else 0.0 for t in PCK_THRESHOLDS}
    per_keypoint = {n: (float(s / c) if c else None) for n, s, c in zip(names, error_sum, error_count)}
    out["mean_error_px"] = float(error_sum.sum() / error_count.sum()) if error_count.sum() else None
    out["per_keypoint_error_px"] = per_keypoint
    out["unmatched"] = unmatched
    return out


def evaluate_results(results, ann_file, *, sigmas=None, category_id=None, flip_pairs=None) -> dict:
    """Score an existing COCO keypoint results file (or list) against ``ann_file``: the pycocotools
    stats of `coco_keypoint_ap()` plus `keypoint_errors()`. No model is involved."""
    coco = ann_file if isinstance(ann_file, CocoKeypoints) else load_coco_keypoints(
        ann_file, category_id=category_id, flip_pairs=flip_pairs, sigmas=sigmas, check_images=False)
    where = str(results) if isinstance(results, (str, os.PathLike)) else "results"
    results = load_results(results, coco, where)
    metrics = coco_keypoint_ap(results, coco, where)
    metrics.update(keypoint_errors(results, coco))
    metrics["num_results"] = len(results)
    return metrics


# --------------------------------------------------------------------------------------------- running a model
def load_detections(path, coco: CocoKeypoints, score_threshold: float = 0.0) -> dict:
    """A detector's COCO results file → ``{image_id: (N×4 boxes, N scores)}``.

    Detections of another ``category_id`` than the keypoint category, and those scoring below
    ``score_threshold``, are dropped (the official keeps person boxes with score > 0).
    """
    detections = read_json(path, "detections file")
    if not isinstance(detections, list):
        raise DatasetError(f"{path}: a detections file is a JSON list of COCO results")
    per_image = defaultdict(list)
    for i, det in enumerate(detections):
        if not isinstance(det, dict) or "image_id" not in det or "bbox" not in det:
            raise DatasetError(f"{path}: detection [{i}] needs 'image_id' and 'bbox'")
        if det.get("category_id", coco.category_id) != coco.category_id:
            continue
        if det["image_id"] not in coco.images:
            raise DatasetError(f"{path}: detection [{i}]: image id {det['image_id']} is not in {coco.path}")
        box = det["bbox"]
        if not isinstance(box, list) or len(box) != 4:
            raise DatasetError(f"{path}: detection [{i}] (image id {det['image_id']}): 'bbox' must be x, y, w, h")
        if not float(box[2]) > 0 or not float(box[3]) > 0:
            raise DatasetError(f"{path}: detection [{i}] (image id {det['image_id']}): box {box} has zero size")
        score = float(det.get("score", 1.0))
        if score < score_threshold:
            continue
        per_image[det["image_id"]].append((box, score))
    return {k: (np.asarray([b for b, _ in v], dtype=np.float64), np.asarray([s for _, s in v])) for k, v in
            per_image.items()}


def ground_truth_boxes(coco: CocoKeypoints) -> dict:
    """``{image_id: (N×4 cleaned boxes, N ones)}`` of the usable annotations (the official GT-box test)."""
    per_image = defaultdict(list)
    for record in coco.records:
        per_image[record.image_id].append(record.box)
    return {k: (np.stack(v), np.ones(len(v))) for k, v in per_image.items()}


@torch.no_grad()
def predict_people(model, coco: CocoKeypoints, boxes: dict, *, input_size=None, flip_test: bool = True,
                   decoder: str | None = None, workers: int = 0, batch_size: int = 64, progress: bool = False):
    """Run ``model`` (in eval mode) on every image with boxes → raw people for `postprocess()`.

    Crops of consecutive images share model batches of up to ``batch_size`` (the batched core of
    `hrnet_zoo.predict_keypoints()`), so a runner is kept busy however few people an image holds.
    """
    cfg = model_cfg(model)
    size = cfg.input_size if input_size is None else tuple(input_size)
    settings = crop_settings(model, flip_test=flip_test, decoder=decoder, input_size=size,
                             flip_pairs=coco.keypoint_set.flip_pairs)
    paths = {image_id: coco.image_path(image_id) for image_id in boxes}
    loader = torch.utils.data.DataLoader(ImageFolderDataset(paths), batch_size=None, num_workers=workers)
    if progress:
        from tqdm import tqdm
        loader = tqdm(loader, desc="evaluate", unit="img", leave=False)
    queued_ids = deque()  # image ids in the core, oldest first: results come back in order

    def items():
        for image_id, image in loader:
            queued_ids.append(image_id)
            yield image, boxes[image_id][0]

    people = []
    for result in iter_predictions(model, items(), settings, batch_size):
        image_id = queued_ids.popleft()
        areas = np.prod(result.scale * PIXEL_STD, axis=1)  # the padded crop's area, as the official NMS uses
        for kpts, score, area in zip(result.keypoints.numpy(), boxes[image_id][1], areas):
            people.append({"image_id": image_id, "keypoints": kpts, "box_score": float(score), "area": float(area)})
    return people


def evaluate(model, ann_file, image_dir=None, *, boxes=None, input_size=None, flip_test: bool = True,
             decoder: str | None = None, sigmas=None, flip_pairs=None, category_id=None,
             in_vis_thre: float = IN_VIS_THRESHOLD, oks_thre: float = OKS_THRESHOLD, det_score_thre: float = 0.0,
             results_file=None, workers: int = 0, batch_size: int = 64, progress: bool = False) -> dict:
    """Keypoint AP (pycocotools) of ``model`` on a COCO keypoint file, the official way.

    Args:
        model: a pose model in eval mode (refused in train mode: inference never switches the
            caller's model), or a runner from `hrnet_zoo.optimize()`.
        ann_file, image_dir: the COCO keypoint file (or a `CocoKeypoints`) and images.
        boxes: None for the ground-truth boxes, or a detector's COCO results file (``bbox``, ``score``).
        input_size: ``(H, W)``; by default ``model.pretrained_cfg.input_size``.
        flip_test, decoder: as `hrnet_zoo.predict_keypoints()` (decoder by default the model's).
        sigmas, flip_pairs, category_id: as [`hrnet_zoo.data.load_coco_keypoints()`][hrnet_zoo.data.load_coco_keypoints].
        in_vis_thre, oks_thre: rescoring and OKS-NMS thresholds (official 0.2 and 0.9).
        det_score_thre: detections scoring below are dropped.
        results_file: also write the COCO keypoint results there.

    Returns:
        The 10 COCOeval stats (``AP`` … ``ARl``), ``PCK@0.05``, ``PCK@0.1``, ``mean_error_px``,
        ``per_keypoint_error_px``, ``unmatched``, ``num_results``.
    """
    coco = ann_file if isinstance(ann_file, CocoKeypoints) else load_coco_keypoints(
        ann_file, image_dir, category_id=category_id, flip_pairs=flip_pairs, sigmas=sigmas, check_images=False)
    model_k = getattr(model, "num_joints", None)
    if model_k is not None and model_k != coco.keypoint_set.num_keypoints:
        raise DatasetError(f"{coco.path}: the model predicts {model_k} keypoints but the file's category has "
                           f"{coco.keypoint_set.num_keypoints} ({', '.join(coco.keypoint_set.keypoint_names)}); "
                           "fine-tune it with `hrnet-zoo train --new-head` first")
    image_boxes = ground_truth_boxes(coco) if boxes is None else load_detections(boxes, coco, det_score_thre)
    coco.check_images_exist(image_boxes)
    people = predict_people(model, coco, image_boxes, input_size=input_size, flip_test=flip_test,
                            decoder=decoder, workers=workers, batch_size=batch_size, progress=progress)
    results = postprocess(people, coco.category_id, coco.keypoint_set.sigmas, in_vis_thre, oks_thre)
    if results_file is not None:
        write_json(results_file, results)
    metrics = evaluate_results(results, coco)
    return metrics


def write_json(path, data) -> None:
    """Write JSON through a temporary file and an atomic rename (nothing half-written is left)."""
    write_atomically(Path(path), lambda tmp: tmp.write_text(json.dumps(data), encoding="utf-8"))

