"""COCO keypoint AP by ``pycocotools``' ``COCOeval``, and the ground truth it is scored against.

AP figures are pycocotools' own (nothing re-implemented): ``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``,
``AR``, ``AR50``, ``AR75``, ``ARm``, ``ARl`` are ``COCOeval.stats`` in order, with ``iouType="keypoints"``
and ``params.kpt_oks_sigmas`` set to the dataset's sigmas. pycocotools gives −1 where a figure is
undefined (no ground truth in that area range); that value is passed on unchanged. A ground-truth
annotation without ``area`` gets its box area (COCO's own files give the segment area), one without
``iscrowd`` gets 0, and ``num_keypoints`` is always the count of labelled keypoints (v > 0;
docs/data-quirks.md).

Results are validated strictly (`hrnet_zoo.evaluation.files`): a NaN keypoint, a string id, a category
other than the keypoint category is a `DatasetError`, never a score.

pycocotools is imported only when scoring (``pip install pycocotools``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import os

import numpy as np

from hrnet_zoo.data.coco import CocoKeypoints
from hrnet_zoo.data.validate import ground_truth_dataset
from hrnet_zoo.errors import DatasetError
from hrnet_zoo.evaluation.files import check_category, check_result, read_list

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def _ground_truth(coco: CocoKeypoints):
    """A pycocotools COCO of the file, with the quirks of real files settled (see
    `hrnet_zoo.data.validate.ground_truth_dataset`): ``num_keypoints`` counted from the visibilities,
    visibility −1 as 0, ``area``/``iscrowd``/``category_id`` filled where missing."""
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = ground_truth_dataset(coco.data, keypoint_category_ids(coco), coco.keypoint_set.num_keypoints)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def keypoint_category_ids(coco: CocoKeypoints) -> tuple:
    """The category ids scored as the keypoint category (several when categories share one list)."""
    return tuple(getattr(coco, "category_ids", None) or (coco.category_id,))


def load_results(results, coco: CocoKeypoints, where: str = "results") -> list[dict]:
    """Validated COCO keypoint results (a list, or a JSON file of one): fields, K finite numbers, a
    finite score, integer image ids of the file, the file's keypoint category (see
    `hrnet_zoo.evaluation.files`)."""
    if isinstance(results, (str, os.PathLike)):
        where = str(results)
        results = read_list(results, "results file")
    if not isinstance(results, list):
        raise DatasetError(f"{where}: a COCO results file is a JSON list of objects")
    k = coco.keypoint_set.num_keypoints
    categories = keypoint_category_ids(coco)
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


__all__ = ["STAT_NAMES", "coco_keypoint_ap", "keypoint_category_ids", "load_results"]
