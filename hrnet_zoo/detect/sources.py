"""Detectors that need no model: the whole image as one box, and boxes read from a COCO detections file."""
from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from hrnet_zoo.detect.boxes import as_detections
from hrnet_zoo.errors import DatasetError, DetectorError, InvalidArgumentError


def _image_hw(image) -> tuple[int, int]:
    shape = getattr(image, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        raise InvalidArgumentError(f"a detector takes an H×W×3 uint8 RGB image, got shape {shape}")
    return int(shape[0]), int(shape[1])


class FullImageDetector:
    """``detector="full"``: the whole image is one box ``0, 0, W, H`` with score 1.

    For images that hold one object each (cropped data, one fish per photo, hands).
    """

    def __call__(self, image) -> np.ndarray:
        """``image`` H×W×3 → 1×5 ``[[0, 0, W, H, 1]]``."""
        height, width = _image_hw(image)
        return np.array([[0.0, 0.0, float(width), float(height), 1.0]])

    def __repr__(self) -> str:
        return "FullImageDetector()"


class DetectionsFileDetector:
    """Boxes from a COCO detections file: a JSON list of ``{"image_id", "bbox": [x, y, w, h], "score"}``
    (``category_id`` and ``file_name`` optional), as COCO's detection results are written.

    Look boxes up by image id or by file name with `lookup()`, or call the detector with
    ``(image, key)``. File names come from each detection's ``file_name``, or from ``images``: the
    ``images`` list of a COCO annotation file (``id`` and ``file_name``), a mapping ``id → file name``, or a
    sequence of paths whose index is the image id (what ``hrnet-zoo predict --images`` numbers). A
    file name matches as given or by its last component.

    Args:
        path: the detections JSON.
        images: see above (optional).
        category_ids: keep only detections of these categories (None: all).
    """

    def __init__(self, path, images=None, category_ids=None):
        from hrnet_zoo.data.coco import read_json  # reading JSON files is data/'s job; imported when used

        self.path = str(path)
        records = read_json(path, "detections file")
        if not isinstance(records, list):
            raise DatasetError(f"{path}: a detections file is a JSON list of COCO results")
        names = self._names_of(images)
        self._by_id: dict[int, list] = {}
        self._names: dict[str, int] = {}
        for i, det in enumerate(records):
            self._add(i, det, names, category_ids)
        for image_id, name in names.items():  # images without detections are known too (they get 0×5)
            self._names.setdefault(name, image_id)
            self._names.setdefault(os.path.basename(name), image_id)

    def _names_of(self, images) -> dict[int, str]:
        if images is None:
            return {}
        if isinstance(images, Mapping):
            return {int(k): str(v) for k, v in images.items()}
        images = list(images)
        if images and isinstance(images[0], Mapping):
            return {int(img["id"]): str(img["file_name"]) for img in images}
        return {i: os.fspath(p) for i, p in enumerate(images)}

    def _add(self, i: int, det, names: dict[int, str], category_ids) -> None:
        from hrnet_zoo.data.validate import check_detection  # the one check of detection entries

        image_id, box, score = check_detection(det, i, self.path)
        if category_ids is not None and det.get("category_id") not in category_ids:
            return
        self._by_id.setdefault(image_id, []).append([*box, score])
        name = det.get("file_name") or names.get(image_id)
        if name:
            self._names[str(name)] = image_id
            self._names.setdefault(os.path.basename(str(name)), image_id)

    def lookup(self, key) -> np.ndarray:
        """N×5 ``x, y, w, h, score`` of one image, by image id (int) or file name (str or path);
        0×5 for an image the file names but has no detection for."""
        if isinstance(key, (str, os.PathLike)):
            name = os.fspath(key)
            image_id = self._names.get(name, self._names.get(os.path.basename(name)))
            if image_id is None:
                raise DetectorError(f"{self.path} has no detection named {name!r}: give images= (the annotation "
                                    "file's images, or the list of image paths) so file names map to image ids")
        else:
            image_id = int(key)
        return as_detections(self._by_id.get(image_id, []), self.path)

    def __call__(self, image, key=None) -> np.ndarray:
        """``(image, key)`` → `lookup(key)`; the image is not looked at (a file cannot match pixels)."""
        if key is None:
            raise DetectorError(f"the detections file {self.path} needs the image id or file name of each "
                                "image: call detector(image, key) or detector.lookup(key)")
        return self.lookup(key)

    def __repr__(self) -> str:
        return f"DetectionsFileDetector({self.path!r}, {len(self._by_id)} images)"
