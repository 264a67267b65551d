"""`make_detector()`: a detector from what a user writes (``"full"``, a file, a Hub id, a callable)."""
from __future__ import annotations

import os
from pathlib import Path

from hrnet_zoo.detect.onnx import OnnxDetector
from hrnet_zoo.detect.sources import DetectionsFileDetector, FullImageDetector
from hrnet_zoo.errors import DetectorError
from hrnet_zoo.weights.pretrained import HUB_PREFIX

#: What a user can choose, for every "which detector" message.
CHOICES = ('"full" (the whole image is one box), a COCO detections .json, a YOLOX or RTMDet .onnx (a path, '
           'an https:// URL with its sha256, or hf-hub:org/repo/file.onnx), or any callable image -> N×5 '
           'x, y, w, h, score')


def guess_family(source) -> str:
    """``"rtmdet"`` when the file name says so, else ``"yolox"`` (mmpose's person detectors are YOLOX)."""
    return "rtmdet" if "rtmdet" in Path(os.fspath(source).split("@")[0]).name.lower() else "yolox"


def make_detector(spec, *, family: str | None = None, images=None, **onnx_kwargs):
    """The detector ``spec`` names.

    Args:
        spec: a callable (returned as it is), ``"full"`` (`FullImageDetector`), a ``.json`` COCO
            detections file (`DetectionsFileDetector`, with ``images``), or an ONNX source for
            `OnnxDetector`: a ``.onnx`` path, an ``https://`` URL or ``hf-hub:org/repo/file.onnx``.
        family: the ONNX detector's family; None: `guess_family()` from the file name (the returned
            detector's ``repr`` shows what was chosen).
        images: for a detections file, how file names map to image ids (see `DetectionsFileDetector`).
        onnx_kwargs: passed to `OnnxDetector` (``input_size``, ``score_threshold``, ``nms_iou``,
            ``class_ids``, ``backend``, ``sha256``, ``threads``).
    """
    if callable(spec):
        return spec
    if spec is None:
        raise DetectorError(f"top-down pose estimation needs a box per object: choose a detector: {CHOICES}")
    if not isinstance(spec, (str, os.PathLike)):
        raise DetectorError(f"a detector is one of {CHOICES}; got a {type(spec).__name__}")
    text = os.fspath(spec)
    if text == "full":
        return FullImageDetector()
    if text.lower().endswith(".json"):
        return DetectionsFileDetector(text, images=images)
    if text.startswith((HUB_PREFIX, "https://", "http://")) or text.lower().endswith(".onnx") or os.path.isfile(text):
        return OnnxDetector(text, family=family or guess_family(text), **onnx_kwargs)
    raise DetectorError(f"detector {text!r} is none of: {CHOICES}")
