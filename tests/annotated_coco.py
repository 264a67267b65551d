"""A small COCO person file written as annotators leave them, for tests that train a step on it."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

#: Five COCO-style keypoint names: two left/right pairs.
NAMES = ["nose", "left_wrist", "right_wrist", "left_ankle", "right_ankle"]


def write_annotated_coco(root):
    """Two photos' worth of COCO person annotations as annotators leave them: an occluded (v=1) and an
    unlabelled (v=0, zeros) keypoint, a crowd region, float boxes, a person without keypoints."""
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir()
    for i in (1, 2):
        Image.fromarray(rng.integers(0, 255, (120, 96, 3), dtype=np.uint8)).save(images / f"{i:012d}.jpg")
    people = [
        (1, 1, [20.5, 10.0, 50.0, 100.0], [45, 20, 2, 30, 55, 2, 60, 57, 1, 35, 100, 2, 58, 104, 2]),
        (2, 2, [10.0, 15.3, 60.2, 90.0], [40, 25, 2, 0, 0, 0, 62, 50, 2, 30, 95, 2, 55, 98, 1]),
    ]
    annotations = [{"id": aid, "image_id": img, "category_id": 1, "bbox": box, "area": box[2] * box[3] * 0.6,
                    "iscrowd": 0, "keypoints": kps, "num_keypoints": sum(v > 0 for v in kps[2::3])}
                   for aid, img, box, kps in people]
    annotations.append({"id": 3, "image_id": 2, "category_id": 1, "bbox": [70.0, 5.0, 20.0, 30.0], "area": 300.0,
                        "iscrowd": 0, "keypoints": [0] * 15, "num_keypoints": 0})
    annotations.append({"id": 4, "image_id": 1, "category_id": 1, "bbox": [0.0, 60.0, 30.0, 50.0], "area": 900.0,
                        "iscrowd": 1, "segmentation": {"counts": [0, 10], "size": [120, 96]},
                        "keypoints": [0] * 15, "num_keypoints": 0})
    coco = {"images": [{"id": i, "file_name": f"{i:012d}.jpg", "height": 120, "width": 96} for i in (1, 2)],
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": NAMES,
                            "skeleton": [[1, 2], [1, 3], [2, 4], [3, 5]]}]}
    (root / "train.json").write_text(json.dumps(coco))
    return str(root / "train.json"), str(images)
