"""COCO keypoint evaluation (the module ``hrnet_zoo/evaluation.py`` moved to ``run.py`` of this package)."""
from hrnet_zoo.evaluation.run import *  # noqa: F401,F403
from hrnet_zoo.evaluation.run import (IN_VIS_THRESHOLD, OKS_THRESHOLD, PCK_THRESHOLDS, STAT_NAMES,  # noqa: F401
                                      _ground_truth, _keypoint_category_ids, _metric_names, ground_truth_boxes,
                                      oks_overlaps, predict_people)
