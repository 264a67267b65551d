"""PCK is normalised by the annotated box, a missing prediction is missing, AUC and NME, and the
headline metrics follow the keypoint set."""
import dataclasses
import json

import numpy as np
import pytest

from hrnet_zoo.data import load_coco_keypoints
from hrnet_zoo.evaluation import evaluate_results
from hrnet_zoo.evaluation.metrics import AUC_THRESHOLDS, conventional_metrics
from hrnet_zoo.pose.keypoint_set import KeypointSet

pytest.importorskip("pycocotools")

HAND = ["wrist", "thumb1", "thumb2", "index1", "index2"]


def hand_file(tmp_path, boxes, image_size=(300, 200)):
    """Hands in the style of OneHand10K's COCO export: one image per hand, boxes as annotated."""
    images, annotations = [], []
    for i, (x, y, w, h) in enumerate(boxes, start=1):
        images.append({"id": i, "file_name": f"{i:04d}.jpg", "width": image_size[0], "height": image_size[1]})
        kpts = np.stack((np.linspace(x + 2, x + w / 2, 5), np.linspace(y + 2, y + h / 2, 5), np.full(5, 2.0)), 1)
        annotations.append({"id": 100 + i, "image_id": i, "category_id": 1, "iscrowd": 0, "bbox": [x, y, w, h],
                            "area": w * h, "num_keypoints": 5, "keypoints": kpts.reshape(-1).tolist()})
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "hand", "keypoints": HAND, "skeleton": [[1, 2], [2, 3]]}]}
    path = tmp_path / "hands.json"
    path.write_text(json.dumps(data))
    return path, data


def shifted(data, dx, dy, drop=()):
    results = []
    for ann in data["annotations"]:
        if ann["id"] in drop:
            continue
        kpts = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        kpts[:, 0] += dx
        kpts[:, 1] += dy
        results.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kpts.reshape(-1).tolist(),
                        "score": 1.0})
    return results


def test_pck_is_normalised_by_the_annotated_box(tmp_path):
    # the box runs past the right edge of the 300-px image: the annotated width is 100, the clipped one 49
    gt, data = hand_file(tmp_path, [(250, 20, 100, 50)])
    metrics = evaluate_results(shifted(data, 4.0, 0.0), gt)
    assert metrics["PCK@0.05"] == 1.0            # 4 px <= 0.05 · max(100, 50)
    metrics = evaluate_results(shifted(data, 6.0, 0.0), gt)
    assert metrics["PCK@0.05"] == 0.0 and metrics["PCK@0.1"] == 1.0


def test_a_missing_prediction_counts_as_missing(tmp_path):
    gt, data = hand_file(tmp_path, [(20, 20, 60, 60)])
    second = dict(data["annotations"][0], id=200, bbox=[150, 100, 60, 60],
                  keypoints=(np.asarray(data["annotations"][0]["keypoints"]) + [130, 80, 0] * 5).tolist())
    data["annotations"].append(second)       # two hands in image 1, a prediction for only one
    gt.write_text(json.dumps(data))
    metrics = evaluate_results(shifted(data, 0.0, 0.0, drop={200}), gt)
    assert metrics["unmatched"] == 1
    assert metrics["PCK@0.05"] == 0.5 and metrics["PCK@0.1"] == 0.5
    assert metrics["mean_error_px"] == 0.0        # the one prediction is not also matched to the other hand
    assert metrics["NME"] == 0.0


def test_auc_and_nme_by_box_size(tmp_path):
    gt, data = hand_file(tmp_path, [(20, 20, 100, 100), (30, 40, 100, 100)])
    perfect = evaluate_results(shifted(data, 0.0, 0.0), gt)
    assert perfect["AUC"] == 1.0 and perfect["NME"] == 0.0
    assert perfect["NME_normaliser"] == "sqrt(box w*h)"
    metrics = evaluate_results(shifted(data, 6.0, 8.0), gt)     # 10 px: 0.1 of the box
    # PCK(α) is 0 below α = 0.1 and 1 from there: the trapezoid over 0, 0.025, …, 0.5
    assert AUC_THRESHOLDS[0] == 0.0 and AUC_THRESHOLDS[-1] == 0.5 and len(AUC_THRESHOLDS) == 21
    assert metrics["AUC"] == pytest.approx((0.5 * 0.025 + 0.4) / 0.5)
    assert metrics["NME"] == pytest.approx(10.0 / 100.0)


def with_attributes(kset: KeypointSet, **attributes) -> KeypointSet:
    """The keypoint set with ``metrics``/``nme_pair`` as a preset carries them."""
    if all(name in {f.name for f in dataclasses.fields(KeypointSet)} for name in attributes):
        return dataclasses.replace(kset, **attributes)
    subclass = dataclasses.dataclass(frozen=True)(type("PresetSet", (KeypointSet,), dict(attributes)))
    return subclass(**{f.name: getattr(kset, f.name) for f in dataclasses.fields(KeypointSet)})


def test_nme_by_a_keypoint_pair_and_headline_metrics(tmp_path):
    gt, data = hand_file(tmp_path, [(20, 20, 100, 100)])
    coco = load_coco_keypoints(gt, check_images=False)
    assert evaluate_results(shifted(data, 3.0, 4.0), coco)["metrics"] == ["AP"]   # no preset: COCO's AP
    coco.keypoint_set = with_attributes(coco.keypoint_set, metrics=("NME",), nme_pair=(0, 4))
    joints = np.asarray(data["annotations"][0]["keypoints"]).reshape(-1, 3)
    pair_distance = np.linalg.norm(joints[0, :2] - joints[4, :2])
    metrics = evaluate_results(shifted(data, 3.0, 4.0), coco)
    assert metrics["NME"] == pytest.approx(5.0 / pair_distance)
    assert metrics["NME_normaliser"] == "distance wrist-index2"
    assert metrics["metrics"] == ["NME"]                      # a face set without OKS sigmas: NME only
    with_sigmas = with_attributes(KeypointSet.from_names(HAND, sigmas=[0.03] * 5), metrics=("PCK", "AUC"))
    assert conventional_metrics(with_sigmas) == ("AP", "PCK", "AUC")   # sigmas of its own: AP as well
    assert evaluate_results(shifted(data, 0, 0), coco, metrics=["PCK"])["metrics"] == ["PCK"]
