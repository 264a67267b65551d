"""COCO results and detections files: strict reading (one clear line per problem) and strict writing.

A keypoint *results* file is a JSON list of ``{"image_id", "category_id", "keypoints": [x, y, s] × K,
"score"}``; a *detections* file is a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
"score"}``. Every number must be finite: NaN or ±inf in a keypoint, box or score is a
[`DatasetError`][hrnet_zoo.errors.DatasetError], never scored (pycocotools would count an all-NaN
person as a perfect hit). Image ids are integers, as COCO's; a string or list id is refused.

Every JSON file the package writes goes through `write_json()`: strict JSON (``allow_nan=False``;
a NaN is an error, never the bare ``NaN`` that other readers refuse), written to a temporary file in
the same folder and renamed over the target, so a reader never sees half a file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from hrnet_zoo.data.coco import read_json
from hrnet_zoo.data.validate import (  # noqa: F401  (re-exported: the checks of every COCO-format file)
    check_detection,
    is_finite_number,
    is_integer,
    is_number,
)
from hrnet_zoo.errors import DatasetError, InvalidArgumentError, OutputWriteError
from hrnet_zoo.weights.cache import write_atomically


def read_list(path, what: str) -> list:
    """A JSON file holding a list (COCO results and detections files are lists)."""
    data = read_json(path, what)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a {what} is a JSON list of COCO results, got {type(data).__name__}")
    return data


def check_category(entry: dict, index: int, where: str, what: str, category_ids) -> None:
    """A DatasetError when ``entry`` names a category that is not the keypoint category."""
    category = entry.get("category_id", category_ids[0])
    if category not in category_ids:
        expected = category_ids[0] if len(category_ids) == 1 else list(category_ids)
        raise DatasetError(f"{where}: {what} [{index}] (image id {entry.get('image_id')}) has category_id "
                           f"{category!r} but the keypoint category of the annotation file is {expected}; "
                           "give the matching file, or choose the category with --category-id")


def check_result(result, index: int, where: str, num_keypoints: int) -> None:
    """One keypoint result: fields present, an integer image id, 3·K finite numbers, a finite score."""
    if not isinstance(result, dict):
        raise DatasetError(f"{where}: result [{index}] is not a JSON object")
    missing = [f for f in ("image_id", "keypoints", "score") if f not in result]
    if missing:
        raise DatasetError(f"{where}: result [{index}] (image id {result.get('image_id')}): missing field "
                           f"{', '.join(map(repr, missing))}")
    image_id = result["image_id"]
    if not is_integer(image_id):
        raise DatasetError(f"{where}: result [{index}]: image id {image_id!r} is not an integer")
    keypoints = result["keypoints"]
    if not isinstance(keypoints, list) or len(keypoints) != 3 * num_keypoints \
            or not all(is_number(v) for v in keypoints):
        raise DatasetError(f"{where}: result [{index}] (image id {image_id}): 'keypoints' must be "
                           f"{3 * num_keypoints} numbers (x, y, score for each of the {num_keypoints} keypoints)")
    if not all(math.isfinite(v) for v in keypoints):
        raise DatasetError(f"{where}: result [{index}] (image id {image_id}): 'keypoints' holds NaN or "
                           "infinity; a results file needs finite coordinates and scores")
    if not is_finite_number(result["score"]):
        raise DatasetError(f"{where}: result [{index}] (image id {image_id}): 'score' must be a finite "
                           f"number, got {result['score']!r}")


def read_image_index(ann_file) -> tuple[dict, int | None]:
    """``({file_name: image_id}, keypoint category id or None)`` of a COCO file's ``images`` and
    ``categories`` (an image-info file without annotations will do, as COCO's test-dev one)."""
    data = read_json(ann_file, "annotation file")
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DatasetError(f"{ann_file}: expected a COCO object with an 'images' list")
    by_file = {}
    for i, image in enumerate(images):
        if not isinstance(image, dict) or not is_integer(image.get("id")) \
                or not isinstance(image.get("file_name"), str):
            raise DatasetError(f"{ann_file}: images[{i}] needs an integer 'id' and a 'file_name'")
        by_file[Path(image["file_name"]).as_posix()] = image["id"]
    categories = data.get("categories") if isinstance(data.get("categories"), list) else []
    with_keypoints = [c.get("id") for c in categories if isinstance(c, dict) and c.get("keypoints")]
    return by_file, (with_keypoints[0] if len(with_keypoints) == 1 else None)


def image_id_of(path, by_file: dict):
    """The id of the image at ``path`` in an index of `read_image_index()`: the entry whose
    ``file_name`` is the longest trailing part of ``path`` (``val/000123.jpg`` ↔ ``000123.jpg``), or None."""
    parts = Path(path).parts
    for n in range(len(parts), 0, -1):
        image_id = by_file.get("/".join(parts[-n:]))
        if image_id is not None:
            return image_id
    return None


def write_json(path, data) -> None:
    """Write ``data`` as strict JSON (no NaN/inf) through a temporary file in the same folder and an
    atomic rename. A non-finite number is an `InvalidArgumentError` naming ``path``, an OS error (a
    read-only folder, a full disk) an `OutputWriteError`; nothing is left behind either way."""
    try:
        text = json.dumps(data, allow_nan=False)
    except ValueError as e:
        raise InvalidArgumentError(f"{path}: refusing to write a non-finite number as JSON ({e})") from None
    try:
        write_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as e:
        raise OutputWriteError(f"cannot write {path}: {e.strerror or e}") from None


def dumps(data) -> str:
    """Strict JSON text for stdout (no NaN/inf)."""
    return json.dumps(data, allow_nan=False)

