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
one without ``iscrowd`` gets 0, and ``num_keypoints`` is always the count of labelled keypoints (v > 0;
docs/data-quirks.md).

Besides AP, `hrnet_zoo.metrics.keypoint_errors()` reports PCK@0.05 and PCK@0.1, AUC and NME (see
`hrnet_zoo.metrics`: predictions matched one to one with the ground-truth people, normalised by the
annotated box or a keypoint pair) and each keypoint's mean error in pixels. ``metrics`` in the returned
dict names the headline figures, by default the keypoint set's conventional ones.

Results and detections files are validated strictly (`hrnet_zoo.result_files`): a NaN keypoint, a
string box or id, a category other than the keypoint category is a `DatasetError`, never a score.

pycocotools is imported only when scoring (``pip install pycocotools``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from collections import defaultdict, deque

import numpy as np
import torch

from hrnet_zoo.data.coco import CocoKeypoints, ImageFolderDataset, load_coco_keypoints
from hrnet_zoo.data.validate import ground_truth_dataset
from hrnet_zoo.errors import DatasetError, InvalidArgumentError, NonFiniteOutputError
from hrnet_zoo.inference import PIXEL_STD, crop_settings, flip_test_decision, iter_predictions, model_cfg
from hrnet_zoo.metrics import METRIC_NAMES, conventional_metrics, keypoint_errors
from hrnet_zoo.result_files import check_category, check_detection, check_result, read_list, write_json

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
    """A pycocotools COCO of the file, with the quirks of real files settled (see
    `hrnet_zoo.data.validate.ground_truth_dataset`): ``num_keypoints`` counted from the visibilities,
    visibility −1 as 0, ``area``/``iscrowd``/``category_id`` filled where missing."""
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = ground_truth_dataset(coco.data, _keypoint_category_ids(coco), coco.keypoint_set.num_keypoints)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _keypoint_category_ids(coco: CocoKeypoints) -> tuple:
    """The category ids scored as the keypoint category (several when categories share one list)."""
    return tuple(getattr(coco, "category_ids", None) or (coco.category_id,))


def load_results(results, coco: CocoKeypoints, where: str = "results") -> list[dict]:
    """Validated COCO keypoint results (a list, or a JSON file of one): fields, K finite numbers, a
    finite score, integer image ids of the file, the file's keypoint category (see `hrnet_zoo.result_files`)."""
    if isinstance(results, (str, os.PathLike)):
        where = str(results)
        results = read_list(results, "results file")
    if not isinstance(results, list):
        raise DatasetError(f"{where}: a COCO results file is a JSON list of objects")
    k = coco.keypoint_set.num_keypoints
    categories = _keypoint_category_ids(coco)
    for i, result in enumerate(results):
        check_result(result, i, where, k)
        if result["image_id"] not in coco.images:
            raise DatasetError(f"{where}: result [{i}]: image id {result['image_id']} is not in {coco.path}")
        check_category(result, i, where, "result", categories)
    return results


def coco_keypoint_ap(results, coco: CocoKeypoints, where: str = "results") -> dict:
    """pycocotools COCOeval (``keypoints``) of ``results`` against ``coco`` with its sigmas → the 10 stats.

    Results must be of the file's keypoint category (`load_results()` refuses others); with no result
    at all every figure is 0 (pycocotools cannot load an empty list).
    """
    from pycocotools.cocoeval import COCOeval

    results = load_results(results, coco, where)
    same_set = set(coco.category_ids)
    results = [dict(r, category_id=coco.category_id if r.get("category_id", coco.category_id) in same_set
                    else r["category_id"]) for r in results]
    if not results:
        return {name: 0.0 for name in STAT_NAMES}
    gt = _ground_truth(coco)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(gt, dt, "keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(coco.keypoint_set.sigmas, dtype=np.float64)
        evaluator.params.catIds = [coco.category_id]  # the ground truth maps its shared categories to it
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}


def _metric_names(metrics, coco: CocoKeypoints) -> list[str]:
    names = list(conventional_metrics(coco.keypoint_set) if metrics is None else metrics)
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown or not names:
        raise InvalidArgumentError(f"unknown metric(s) {unknown or names}; choose from {', '.join(METRIC_NAMES)}")
    return names


def evaluate_results(results, ann_file, *, sigmas=None, category_id=None, flip_pairs=None, metrics=None,
                     results_file=None, keypoint_set=None) -> dict:
    """Score an existing COCO keypoint results file (or list) against ``ann_file``. No model is involved.

    Every figure is computed: the pycocotools stats of `coco_keypoint_ap()` and those of
    `hrnet_zoo.metrics.keypoint_errors()` (PCK, AUC, NME, errors in pixels). ``metrics`` names the
    headline ones (``"AP"``, ``"PCK"``, ``"AUC"``, ``"NME"``), returned under ``"metrics"``; by default
    the keypoint set's conventional ones (`hrnet_zoo.metrics.conventional_metrics()`).
    ``results_file``: also write the validated results, as scored, there (strict JSON, atomically).
    """
    coco = ann_file if isinstance(ann_file, CocoKeypoints) else load_coco_keypoints(
        ann_file, category_id=category_id, flip_pairs=flip_pairs, sigmas=sigmas, check_images=False,
        keypoint_set=keypoint_set)
    names = _metric_names(metrics, coco)
    where = str(results) if isinstance(results, (str, os.PathLike)) else "results"
    results = load_results(results, coco, where)
    if results_file is not None:
        write_json(results_file, results)
    scores = coco_keypoint_ap(results, coco, where)
    scores.update(keypoint_errors(results, coco))
    scores["num_results"] = len(results)
    scores["metrics"] = names
    return scores


# --------------------------------------------------------------------------------------------- running a model
def load_detections(path, coco: CocoKeypoints, score_threshold: float = 0.0) -> dict:
    """A detector's COCO results file → ``{image_id: (N×4 boxes, N scores)}``.

    Detections of other categories than the keypoint category (a detector's file of several classes)
    and those scoring below ``score_threshold`` are dropped (the official keeps person boxes with
    score > 0); a file with detections but none of the keypoint category is an error, never an empty
    evaluation. Every detection is validated (`hrnet_zoo.result_files.check_detection()`).
    """
    detections = read_list(path, "detections file")
    categories = _keypoint_category_ids(coco)
    per_image, other_categories, of_category = defaultdict(list), set(), 0
    for i, det in enumerate(detections):
        image_id, box, score = check_detection(det, i, str(path))
        category = det.get("category_id", categories[0])
        if category not in categories:
            other_categories.add(repr(category))
            continue
        of_category += 1
        if image_id not in coco.images:
            raise DatasetError(f"{path}: detection [{i}]: image id {image_id} is not in {coco.path}")
        if score >= score_threshold:
            per_image[image_id].append((box, score))
    if detections and not of_category:
        raise DatasetError(f"{path}: no detection has the keypoint category {categories[0]} of {coco.path} "
                           f"(category ids found: {', '.join(sorted(other_categories))}); give the detections "
                           "of that category, or choose the category with --category-id")
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
    sizes = {image_id: coco.declared_hw(image_id) for image_id in boxes if coco.declared_hw(image_id)}
    loader = torch.utils.data.DataLoader(ImageFolderDataset(paths, sizes), batch_size=None, num_workers=workers)
    if progress:
        from tqdm import tqdm
        loader = tqdm(loader, desc="evaluate", unit="img", leave=False)
    queued_ids = deque()  # image ids in the core, oldest first: results come back in order

    def items():
        for image_id, image in loader:
            queued_ids.append(image_id)
            yield image, boxes[image_id][0]

    people = []
    try:
        for result in iter_predictions(model, items(), settings, batch_size):
            image_id = queued_ids.popleft()
            areas = np.prod(result.scale * PIXEL_STD, axis=1)  # the padded crop's area, as the official NMS uses
            for kpts, score, area in zip(result.keypoints.numpy(), boxes[image_id][1], areas):
                people.append({"image_id": image_id, "keypoints": kpts, "box_score": float(score),
                               "area": float(area)})
    except NonFiniteOutputError as e:  # crops of the images still in the core shared the failing batch
        suspects = ", ".join(f"{paths[i]} (image id {i})" for i in list(queued_ids)[:3])
        raise NonFiniteOutputError(f"{suspects}: {e}") from None
    return people


def evaluate(model, ann_file, image_dir=None, *, boxes=None, input_size=None, flip_test: bool = True,
             decoder: str | None = None, sigmas=None, flip_pairs=None, category_id=None,
             in_vis_thre: float = IN_VIS_THRESHOLD, oks_thre: float = OKS_THRESHOLD, det_score_thre: float = 0.0,
             results_file=None, workers: int = 0, batch_size: int = 64, progress: bool = False,
             metrics=None, keypoint_set=None) -> dict:
    """Keypoint AP (pycocotools), PCK, AUC and NME of ``model`` on a COCO keypoint file, the official way.

    Args:
        model: a pose model in eval mode (refused in train mode: inference never switches the
            caller's model), or a runner from `hrnet_zoo.optimize()`.
        ann_file, image_dir: the COCO keypoint file (or a `CocoKeypoints`) and images.
        boxes: None for the ground-truth boxes, or a detector's COCO results file (``bbox``, ``score``).
        input_size: ``(H, W)``; by default ``model.pretrained_cfg.input_size``.
        flip_test, decoder: as `hrnet_zoo.predict_keypoints()` (decoder by default the model's).
        sigmas, flip_pairs, category_id, keypoint_set: as
            [`hrnet_zoo.data.load_coco_keypoints()`][hrnet_zoo.data.load_coco_keypoints]. With no flip
            pairs on names with sides the flip test is skipped with a warning (`flip_test_decision()`).
        in_vis_thre, oks_thre: rescoring and OKS-NMS thresholds (official 0.2 and 0.9).
        det_score_thre: detections scoring below are dropped.
        results_file: also write the COCO keypoint results there (strict JSON, atomically).
        workers: image-decoding processes (0: decode in this one).
        metrics: the headline metrics, as `evaluate_results()` (by default the keypoint set's).

    Returns:
        The 10 COCOeval stats (``AP`` … ``ARl``), ``PCK@0.05``, ``PCK@0.1``, ``AUC``, ``NME``,
        ``NME_normaliser``, ``mean_error_px``, ``per_keypoint_error_px``, ``unmatched``, ``num_results``,
        ``num_images`` (images with boxes) and ``metrics`` (the headline names).

    Raises:
        NonFiniteOutputError: the model's heatmaps hold NaN or infinity (the message names the image).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidArgumentError(f"workers must be 0 or a positive integer, got {workers!r}")
    coco = ann_file if isinstance(ann_file, CocoKeypoints) else load_coco_keypoints(
        ann_file, image_dir, category_id=category_id, flip_pairs=flip_pairs, sigmas=sigmas, check_images=False,
        keypoint_set=keypoint_set)
    flip_test, why = flip_test_decision(flip_test, coco.keypoint_set)
    if why:
        warnings.warn(why, stacklevel=2)
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
    scores = evaluate_results(results, coco, metrics=metrics, results_file=results_file)
    scores["num_images"] = len(image_boxes)
    return scores


__all__ = ["evaluate", "evaluate_results", "coco_keypoint_ap", "keypoint_errors", "load_detections",
           "load_results", "oks_nms", "postprocess", "rescore", "write_json", "conventional_metrics"]
