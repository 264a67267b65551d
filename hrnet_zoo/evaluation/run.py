"""Running a model for evaluation: `evaluate()` (images → people → results → scores) and
`evaluate_results()` (an existing results file → scores); the boxes come from the ground truth or a
detector's results file (`load_detections()`).

The people go through the official rescoring and OKS-NMS (`hrnet_zoo.evaluation.functional`), the
results are scored by pycocotools (`hrnet_zoo.evaluation.coco`) and by the distance metrics
(`hrnet_zoo.evaluation.metrics`).
"""
from __future__ import annotations

import os
import warnings
from collections import defaultdict, deque

import numpy as np
import torch

from hrnet_zoo.data.coco import CocoKeypoints, ImageFolderDataset, load_coco_keypoints
from hrnet_zoo.errors import DatasetError, InvalidArgumentError, NonFiniteOutputError
from hrnet_zoo.evaluation.coco import coco_keypoint_ap, keypoint_category_ids, load_results
from hrnet_zoo.data.validate import check_detection
from hrnet_zoo.evaluation.files import read_list, write_json
from hrnet_zoo.evaluation.functional import IN_VIS_THRESHOLD, OKS_THRESHOLD, postprocess
from hrnet_zoo.evaluation.metrics import METRIC_NAMES, conventional_metrics, keypoint_errors
from hrnet_zoo.pose.geometry import PIXEL_STD
from hrnet_zoo.pose.inference import crop_settings, flip_test_decision, iter_predictions, model_cfg


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
    `hrnet_zoo.evaluation.metrics.keypoint_errors()` (PCK, AUC, NME, errors in pixels). ``metrics`` names the
    headline ones (``"AP"``, ``"PCK"``, ``"AUC"``, ``"NME"``), returned under ``"metrics"``; by default
    the keypoint set's conventional ones (`hrnet_zoo.evaluation.metrics.conventional_metrics()`).
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


def load_detections(path, coco: CocoKeypoints, score_threshold: float = 0.0) -> dict:
    """A detector's COCO results file → ``{image_id: (N×4 boxes, N scores)}``.

    Detections of other categories than the keypoint category (a detector's file of several classes)
    and those scoring below ``score_threshold`` are dropped (the official keeps person boxes with
    score > 0); a file with detections but none of the keypoint category is an error, never an empty
    evaluation. Every detection is validated (`hrnet_zoo.data.validate.check_detection()`).
    """
    detections = read_list(path, "detections file")
    categories = keypoint_category_ids(coco)
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
    model_k = getattr(model, "num_keypoints", None)
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


__all__ = ["evaluate", "evaluate_results", "ground_truth_boxes", "load_detections", "predict_people"]
