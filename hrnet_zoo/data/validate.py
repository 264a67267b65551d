"""Field checks of COCO-format keypoint files written by others, and their ground truth for pycocotools.

Each check raises one [`DatasetError`][hrnet_zoo.errors.DatasetError] line naming the file and the image or
annotation id; docs/data-quirks.md lists every quirk and what is done with it.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import re

import numpy as np

from hrnet_zoo.errors import DatasetError

_logger = logging.getLogger("hrnet_zoo.data")
_TOP_LEVEL_LISTS = ("images", "annotations", "categories")
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")  # C:\x.jpg, C:/x.jpg; "12:30.jpg" is a Linux file name


def require(entry, fields, where: str) -> None:
    """``entry`` is a JSON object with every one of ``fields``."""
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    missing = [f for f in fields if f not in entry]
    if missing:
        raise DatasetError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")


def _kind(value) -> str:
    return "null" if value is None else {str: "a string", list: "a list", dict: "an object",
                                         bool: "a boolean"}.get(type(value), repr(value))


def is_number(value) -> bool:
    """A JSON number (not a bool, not a string)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value) -> bool:
    """A JSON number that is neither NaN nor ±inf."""
    return is_number(value) and math.isfinite(value)


def is_integer(value) -> bool:
    """A JSON integer, as COCO's ids: not a bool, a string or a list."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_top_level(path: str, data) -> dict:
    """``data``, once checked to be an object whose ``images``, ``annotations`` and ``categories`` are lists
    (of objects; categories with an integer ``id``)."""
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a COCO object with images, annotations and categories")
    require(data, _TOP_LEVEL_LISTS, path)
    for key in _TOP_LEVEL_LISTS:
        if not isinstance(data[key], list):
            raise DatasetError(f"{path}: '{key}' must be a list, got {_kind(data[key])}")
    for i, category in enumerate(data["categories"]):
        require(category, ("id",), f"{path}: categories[{i}]")
        check_integer(category["id"], f"{path}: categories[{i}]", "id")
    return data


def check_integer(value, where: str, name: str) -> None:
    """COCO ids and flags are JSON integers; a string or a list of them matches nothing downstream."""
    if not is_integer(value):
        raise DatasetError(f"{where}: '{name}' must be an integer, got {_kind(value)}"
                           + (f" {value!r}" if isinstance(value, (str, list)) else ""))


def check_image(path: str, index: int, image: dict, image_dir) -> None:
    """An ``images`` entry: integer id, a ``file_name`` inside ``image_dir``, finite positive ``width``/``height``."""
    where = f"{path}: images[{index}]" + (f" (id {image['id']})" if "id" in image else "")
    check_integer(image["id"], where, "id")
    name = image["file_name"]
    if not isinstance(name, str) or not name:
        raise DatasetError(f"{where}: 'file_name' must be a non-empty string, got {_kind(name)}")
    if image_dir is not None and leaves_folder(name):
        raise DatasetError(f"{where}: file_name {name!r} leaves the images folder {image_dir}; file names are "
                           "relative to it, without '..' or an absolute path")
    for key in ("width", "height"):
        if key in image and not (is_finite_number(image[key]) and image[key] > 0):
            raise DatasetError(f"{where}: '{key}' must be a positive number of pixels, got {image[key]!r}")


def leaves_folder(name: str) -> bool:
    """True for an absolute file name, or one whose ``..`` parts climb out of its folder."""
    if os.path.isabs(name) or name.startswith(("/", "\\")) or _WINDOWS_ABSOLUTE.match(name):
        return True
    normal = os.path.normpath(name.replace("\\", "/"))
    return normal == ".." or normal.startswith("../")


def check_annotation(where: str, ann: dict, seen_ids: set) -> None:
    """Integer ``id`` (once in the file), ``image_id`` and ``category_id``; ``iscrowd`` 0 or 1; a finite
    numeric ``area``; a ``bbox`` of 4 numbers."""
    check_integer(ann["id"], where, "id")
    if ann["id"] in seen_ids:
        raise DatasetError(f"{where}: annotation id {ann['id']} appears twice in 'annotations' (pycocotools keeps "
                           "only one of them)")
    seen_ids.add(ann["id"])
    check_integer(ann["image_id"], where, "image_id")
    if "category_id" in ann:
        check_integer(ann["category_id"], where, "category_id")
    crowd = ann.get("iscrowd", 0)
    if not (isinstance(crowd, int) and crowd in (0, 1)):
        raise DatasetError(f"{where}: 'iscrowd' must be 0 or 1, got {crowd!r}")
    if "area" in ann and not is_finite_number(ann["area"]):
        raise DatasetError(f"{where}: 'area' must be a finite number, got {ann['area']!r}")
    box = ann["bbox"]
    if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
        raise DatasetError(f"{where}: 'bbox' must be 4 numbers x, y, width, height, got {box!r}")


def parse_keypoints(where: str, values, k: int, category_name) -> np.ndarray:
    """K×3 (x, y, v) of an annotation's ``keypoints``; v < 0 (some tools' "not annotated") becomes 0.

    A labelled keypoint (v > 0) must have finite x and y; an unlabelled one's x and y are set to 0.
    """
    numeric = isinstance(values, list) and all(is_number(v) for v in values)
    if not numeric or len(values) != 3 * k:
        raise DatasetError(f"{where}: 'keypoints' must be {3 * k} numbers (x, y, v for each of the {k} "
                           f"keypoints of category {category_name!r})")
    kpts = np.asarray(values, dtype=np.float64).reshape(k, 3)
    unknown = ~np.isfinite(kpts[:, 2])
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise DatasetError(f"{where}: keypoint {i} has visibility {kpts[i, 2]}; v must be 0 or -1 (not annotated), "
                           "1 or 2 (labelled)")
    kpts[:, 2] = np.maximum(kpts[:, 2], 0.0)
    labelled = kpts[:, 2] > 0
    bad = labelled & ~np.isfinite(kpts[:, :2]).all(1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{where}: labelled keypoint {i} is at ({kpts[i, 0]}, {kpts[i, 1]}); a labelled "
                           "keypoint needs finite x and y (set v = 0 if it is not annotated)")
    kpts[~labelled, :2] = np.where(np.isfinite(kpts[~labelled, :2]), kpts[~labelled, :2], 0.0)
    return kpts


def check_area(where: str, ann: dict) -> None:
    """A scored annotation (with a labelled keypoint) needs a positive ``area``: OKS divides by it."""
    if "area" in ann and ann["area"] <= 0:
        raise DatasetError(f"{where}: 'area' is {ann['area']}, but an annotation with labelled keypoints needs a "
                           "positive area (OKS divides by it); fix it or remove the field to use the box area")


class NumKeypointsAudit:
    """Collects annotations whose ``num_keypoints`` disagrees with their visibilities; warns once per file."""

    def __init__(self, path: str):
        self.path = path
        self.disagreeing: list[tuple] = []

    def check(self, ann: dict, kpts: np.ndarray) -> None:
        if "num_keypoints" in ann and ann["num_keypoints"] != int((kpts[:, 2] > 0).sum()):
            self.disagreeing.append((ann["id"], ann["num_keypoints"], int((kpts[:, 2] > 0).sum())))

    def warn(self) -> None:
        if self.disagreeing:
            ann_id, stated, counted = self.disagreeing[0]
            _logger.warning("%s: 'num_keypoints' disagrees with the visibilities on %d annotation(s) (first: id %s "
                            "says %r, its keypoints label %d); using the count of labelled keypoints (v > 0)",
                            self.path, len(self.disagreeing), ann_id, stated, counted)


def ground_truth_dataset(data: dict, keypoint_category_ids, num_keypoints: int) -> dict:
    """A copy of a validated file for pycocotools' ``COCO``, with the quirks of real files settled.

    In annotations of the keypoint categories (those without ``category_id`` are of the first of
    ``keypoint_category_ids``, and all of them are given that first id, so that categories sharing one
    keypoint list are scored as one): visibilities below 0 become 0, unlabelled keypoints' non-finite x, y
    become 0, ``num_keypoints`` is the count of labelled keypoints (pycocotools ignores a ground truth
    whose ``num_keypoints`` is 0). Every annotation gets ``iscrowd`` 0 and its box area where missing.
    """
    categories = tuple(keypoint_category_ids)
    out = copy.deepcopy(data)
    for ann in out["annotations"]:
        ann.setdefault("category_id", categories[0])
        if ann["category_id"] in categories:  # categories sharing the keypoint list score as one
            ann["category_id"] = categories[0]
        ann.setdefault("iscrowd", 0)
        if "area" not in ann and "bbox" in ann:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
        values = ann.get("keypoints")
        if ann["category_id"] in categories and isinstance(values, list) and len(values) == 3 * num_keypoints:
            kpts = parse_keypoints(f"annotation id {ann.get('id')}", values, num_keypoints, None)
            ann["keypoints"] = kpts.reshape(-1).tolist()
            ann["num_keypoints"] = int((kpts[:, 2] > 0).sum())
    return out


def check_detection(det, index: int, where: str):
    """One detection → ``(image_id, [x, y, w, h] floats, score)``; a DatasetError naming ``where``
    and the detection's index for anything else (missing fields, string or list ids, a box that is not
    4 finite numbers with positive size, a score that is not a finite number)."""
    if not isinstance(det, dict) or "image_id" not in det or "bbox" not in det:
        raise DatasetError(f"{where}: detection [{index}] needs 'image_id' and 'bbox'")
    image_id = det["image_id"]
    if not is_integer(image_id):
        raise DatasetError(f"{where}: detection [{index}]: image id {image_id!r} is not an integer "
                           "(COCO image ids are numbers)")
    box = det["bbox"]
    if not isinstance(box, list) or len(box) != 4 or not all(is_finite_number(v) for v in box):
        raise DatasetError(f"{where}: detection [{index}] (image id {image_id}): 'bbox' must be 4 finite "
                           f"numbers x, y, width, height, got {box!r}")
    if not (box[2] > 0 and box[3] > 0):
        raise DatasetError(f"{where}: detection [{index}] (image id {image_id}): box {box} has zero size")
    score = det.get("score", 1.0)
    if not is_finite_number(score):
        raise DatasetError(f"{where}: detection [{index}] (image id {image_id}): 'score' must be a finite "
                           f"number, got {score!r}")
    return image_id, [float(v) for v in box], float(score)
