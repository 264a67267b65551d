"""Person (or any object) detectors for top-down pose estimation.

A detector is any callable ``detector(image) → N×5`` float array ``x, y, w, h, score`` (image pixels),
``image`` being H×W×3 uint8 RGB. Provided here:

* `FullImageDetector` (``detector="full"``): the whole image is one box.
* `DetectionsFileDetector`: boxes from a COCO detections file, looked up by image id or file name.
* `OnnxDetector`: YOLOX or RTMDet exported to ONNX, run by onnxruntime or OpenVINO (see
  `hrnet_zoo.detect.onnx` for where the files come from).

`make_detector()` turns what a user writes (``"full"``, a ``.json``, a ``.onnx``, a Hub id, a callable) into
one of them. Their boxes go through `filter_detections()` (score threshold, class filter, NMS) before crops.
"""
from __future__ import annotations

from hrnet_zoo.detect.boxes import box_iou, filter_detections, nms
from hrnet_zoo.detect.choose import make_detector
from hrnet_zoo.detect.onnx import OnnxDetector, resolve_onnx_file
from hrnet_zoo.detect.sources import DetectionsFileDetector, FullImageDetector

__all__ = ["DetectionsFileDetector", "FullImageDetector", "OnnxDetector", "box_iou", "filter_detections",
           "make_detector", "nms", "resolve_onnx_file"]
