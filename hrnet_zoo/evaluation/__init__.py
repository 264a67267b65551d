"""COCO keypoint evaluation the way the official numbers are made, for any keypoint set.

[`evaluate()`][hrnet_zoo.evaluation.run.evaluate] runs a pose model over the images of a COCO keypoint
file, with the ground-truth boxes or a detector's COCO results file, then follows the official
``COCODataset.evaluate`` (deep-high-resolution-net.pytorch ``lib/dataset/coco.py``):

1. **rescoring**: a person's score is the mean score of its keypoints above ``in_vis_thre`` = 0.2
   (0 when none is), times its box score (1 for ground-truth boxes);
2. **OKS-NMS** per image (``lib/nms/nms.py`` ``oks_nms``, threshold ``oks_thre`` = 0.9): keep the best
   scored person, drop the others whose OKS with it exceeds 0.9, repeat. The OKS is the package's one
   (`hrnet_zoo.pose.oks.oks()`), with the pair's mean padded crop area (``scale · 200`` squared, as the
   official) and every keypoint, as the official call does;
3. the results go to a COCO keypoint results file, scored by ``pycocotools``' ``COCOeval`` with
   ``iouType="keypoints"`` and ``params.kpt_oks_sigmas`` set to the dataset's sigmas.

Besides AP, PCK@0.05 and PCK@0.1, AUC and NME are reported (predictions matched one to one with the
ground-truth people by OKS, normalised by the annotated box or a keypoint pair), and each keypoint's
mean error in pixels. ``metrics`` in the returned dict names the headline figures, by default the
keypoint set's conventional ones.

The modules, each usable alone:

- `hrnet_zoo.evaluation.functional`: rescoring and OKS-NMS (numpy and torch, no pycocotools);
- `hrnet_zoo.evaluation.coco`: pycocotools' COCOeval and the ground truth it is scored against;
- `hrnet_zoo.evaluation.metrics`: PCK, AUC, NME and the one-to-one matching of people;
- `hrnet_zoo.evaluation.files`: strict results and detections files, strict atomic JSON;
- `hrnet_zoo.evaluation.run`: `evaluate()`, `evaluate_results()`, `load_detections()`.

Nothing below evaluation (data, inference, keypoints, models, weights) imports it
(tests/test_layering.py).
"""
from __future__ import annotations

# The names the module had before it became a package, private ones included, stay importable here.
from hrnet_zoo.evaluation.coco import (STAT_NAMES, _ground_truth, coco_keypoint_ap,  # noqa: F401
                                       keypoint_category_ids, load_results)
from hrnet_zoo.evaluation.files import (check_category, check_detection, check_result, dumps,  # noqa: F401
                                        read_list, write_json)
from hrnet_zoo.evaluation.functional import (IN_VIS_THRESHOLD, OKS_THRESHOLD, oks_nms, oks_overlaps, postprocess,
                                             rescore)
from hrnet_zoo.evaluation.metrics import (METRIC_NAMES, PCK_THRESHOLDS, conventional_metrics, keypoint_errors,
                                          match_people)
from hrnet_zoo.evaluation.run import (_metric_names, evaluate, evaluate_results, ground_truth_boxes,  # noqa: F401
                                      load_detections, predict_people)

_keypoint_category_ids = keypoint_category_ids

__all__ = ["evaluate", "evaluate_results", "coco_keypoint_ap", "keypoint_errors", "load_detections",
           "load_results", "oks_nms", "postprocess", "rescore", "write_json", "conventional_metrics",
           "IN_VIS_THRESHOLD", "OKS_THRESHOLD", "STAT_NAMES", "METRIC_NAMES", "PCK_THRESHOLDS",
           "ground_truth_boxes", "predict_people", "oks_overlaps", "match_people"]
