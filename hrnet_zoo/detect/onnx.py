"""`OnnxDetector`: a YOLOX or RTMDet detector exported to ONNX, run by onnxruntime or OpenVINO.

Where the ONNX files come from (both families are Apache-2.0):

* YOLOX, COCO's 80 classes (person = class 0): the official releases,
  ``https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_s.onnx`` (also
  ``yolox_nano``, ``yolox_tiny``, ``yolox_m``, ``yolox_l``, ``yolox_x``), or your own model through YOLOX's
  ``tools/export_onnx.py`` (without ``--decode_in_inference``).
* Person detectors from mmpose's RTMPose project, as rtmlib uses them: zip files under
  ``https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/`` (for example
  ``yolox_s_8xb8-300e_humanart-3ef259a7.zip``, ``rtmdet_nano_8xb32-300e_hand-267f9c8f.zip``); unzip them
  and give the ``end2end.onnx`` inside (``family="yolox"`` or ``"rtmdet"`` as the name says). Any mmdet
  model exported with mmdeploy's ONNX Runtime detection configs gives the same ``end2end.onnx`` layout.

A file is given as a local path, an ``https://`` URL with its ``sha256``, or a Hub file
``hf-hub:org/repo/path/file.onnx[@revision]``. Downloads go through hrnet_zoo's weight downloader: the
same caches, offline mode and sha256 checks as pretrained weights (``sha256=`` pins the file; without it
a Hub file is checked against the sha256 the Hub reports for it).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hrnet_zoo.detect.boxes import kept_indices
from hrnet_zoo.detect.decode import FAMILIES, decode_end2end, decode_yolox, letterbox
from hrnet_zoo.detect.sources import _image_hw
from hrnet_zoo.errors import DetectorError, InvalidArgumentError
from hrnet_zoo.runtime.runner import require
from hrnet_zoo.weights.hub import ChecksumError, fetch_hf_file, fetch_url, sha256_file
from hrnet_zoo.weights.pretrained import HUB_PREFIX

BACKENDS = ("onnxruntime", "openvino")


def resolve_onnx_file(source, sha256: str | None = None) -> Path:
    """A local ONNX file for ``source``: a path (checked against ``sha256`` when given), an ``https://`` URL
    (needs ``sha256``), or ``hf-hub:org/repo/path/file.onnx[@revision]`` (downloaded, then verified)."""
    text = os.fspath(source)
    if os.path.isfile(text):
        if sha256 and sha256_file(text) != sha256.lower():
            raise ChecksumError(f"checksum mismatch for {text}: expected sha256 {sha256}, got {sha256_file(text)}")
        return Path(text)
    if text.startswith(("https://", "http://")):
        return fetch_url(text, expected_sha256=sha256.lower() if sha256 else None,
                         hint="download it and pass its path")[0]
    if text.startswith(HUB_PREFIX):
        spec, _, revision = text[len(HUB_PREFIX):].partition("@")
        parts = spec.split("/")
        if len(parts) < 3 or not all(parts):
            raise InvalidArgumentError(f"{text!r}: a Hub detector is hf-hub:org/repo/path/file.onnx[@revision]")
        path, _ = fetch_hf_file("/".join(parts[:2]), "/".join(parts[2:]), revision=revision or None,
                                expected_sha256=sha256.lower() if sha256 else None)
        return path
    raise InvalidArgumentError(f"detector {text!r}: no such file, and not an https:// URL or "
                               "hf-hub:org/repo/file.onnx")


def _onnxruntime_run(path: Path, threads: int):
    ort = require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the pose runner: no busy cores
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/… classes
        raise DetectorError(f"{path}: onnxruntime cannot load it as an ONNX graph ({str(e).splitlines()[0]})") from None
    inputs, names = session.get_inputs(), [o.name for o in session.get_outputs()]

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, {inputs[0].name: x})))

    return run, list(inputs[0].shape), names


def _openvino_run(path: Path, threads: int, requested):
    from hrnet_zoo.runtime.openvino_backend import compile_config, read_onnx

    ov = require("openvino", "openvino")
    try:
        model = read_onnx(path)
    except Exception as e:  # OpenVINO's own exception classes
        raise DetectorError(f"{path}: OpenVINO cannot read it as an ONNX graph ({str(e).splitlines()[0]})") from None
    declared = [d.get_length() if d.is_static else None for d in model.input(0).get_partial_shape()]
    input_size = _input_size_from(declared, requested, path)
    model.reshape({model.input(0): ov.PartialShape([1, 3, *input_size])})
    compiled = ov.Core().compile_model(model, "CPU", compile_config("fp32", threads))
    names = [out.get_any_name() for out in compiled.outputs]

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        results = compiled(x)
        return {name: results[out] for name, out in zip(names, compiled.outputs)}

    return run, input_size, names


def _input_size_from(declared: list, requested, path: Path) -> tuple[int, int]:
    fixed = tuple(d for d in declared[2:4]) if len(declared) == 4 else (None, None)
    fixed = tuple(d if isinstance(d, int) and d > 0 else None for d in fixed)
    if requested is not None:
        size = tuple(int(v) for v in requested)
        if len(size) != 2 or min(size) <= 0:
            raise InvalidArgumentError(f"input_size must be (height, width), got {requested!r}")
        if None not in fixed and fixed != size:
            raise InvalidArgumentError(f"input_size {size} differs from the {fixed[0]}×{fixed[1]} input that {path} "
                                       "was exported with; leave input_size out")
        return size
    if None in fixed:
        raise InvalidArgumentError(f"{path} takes any input size: give input_size=(height, width), e.g. (640, 640)")
    return fixed


class OnnxDetector:
    """A YOLOX or RTMDet detector from an ONNX file: ``detector(image) → N×5 x, y, w, h, score``.

    ``image`` is H×W×3 uint8 RGB; boxes are in its pixels, highest score first, after the score
    threshold, the class filter and NMS (`hrnet_zoo.detect.filter_detections()`).

    Args:
        source: a path, an ``https://`` URL (with ``sha256``) or ``hf-hub:org/repo/file.onnx[@rev]``.
        family: ``"yolox"`` (raw 0–255 BGR input) or ``"rtmdet"`` (mean/std normalised BGR); both read
            YOLOX's raw ``1×A×(5+C)`` output and mmdeploy's ``dets``/``labels`` outputs.
        input_size: network input ``(H, W)``; read from the graph when it is fixed there.
        score_threshold: keep detections scoring at least this.
        nms_iou: IoU above which a lower-scoring box of the same class is dropped.
        class_ids: classes kept (COCO person = 0; None: every class).
        backend: ``"onnxruntime"`` (CPU) or ``"openvino"`` (CPU, fp32).
        sha256: the file's checksum (required for a URL).
        threads: CPU threads (default: ``torch.get_num_threads()``).
    """

    def __init__(self, source, family: str = "yolox", input_size: Sequence[int] | None = None,
                 score_threshold: float = 0.3, nms_iou: float = 0.45, class_ids: Sequence[int] | None = (0,),
                 backend: str = "onnxruntime", sha256: str | None = None, threads: int | None = None):
        if family not in FAMILIES:
            raise InvalidArgumentError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.path = resolve_onnx_file(source, sha256)
        self.family, self.backend = family, backend
        self.score_threshold, self.nms_iou = float(score_threshold), float(nms_iou)
        self.class_ids = None if class_ids is None else tuple(int(c) for c in class_ids)
        threads = threads or torch.get_num_threads()
        if backend == "onnxruntime":
            self._run, declared, self.output_names = _onnxruntime_run(self.path, threads)
            self.input_size = _input_size_from(declared, input_size, self.path)
        else:
            self._run, self.input_size, self.output_names = _openvino_run(self.path, threads, input_size)
        self._layout = self._output_layout()

    def _output_layout(self) -> str:
        names = self.output_names
        if "dets" in names and "labels" in names:
            return "end2end"
        if len(names) == 1:
            return "raw"
        raise DetectorError(f"{self.path}: outputs {names} are neither YOLOX's one raw output nor mmdeploy's "
                            "'dets' and 'labels'")

    def detect(self, image) -> tuple[np.ndarray, np.ndarray]:
        """(N×5 ``x, y, w, h, score`` in image pixels, N class ids), filtered, highest score first."""
        _image_hw(image)
        if image.dtype != np.uint8:
            raise InvalidArgumentError(f"a detector takes a uint8 image, got {image.dtype}")
        x, ratio = letterbox(image, self.input_size, FAMILIES[self.family])
        outputs = self._run(x)
        if self._layout == "end2end":
            dets, labels = decode_end2end(outputs["dets"], outputs["labels"], ratio)
        else:
            dets, labels = decode_yolox(outputs[self.output_names[0]], self.input_size, ratio, self.class_ids,
                                        self.score_threshold)
        keep = kept_indices(dets, self.score_threshold, labels, self.class_ids, self.nms_iou)
        return dets[keep], labels[keep]

    def __call__(self, image) -> np.ndarray:
        """``image`` H×W×3 uint8 RGB → N×5 ``x, y, w, h, score``."""
        return self.detect(image)[0]

    def __repr__(self) -> str:
        return (f"OnnxDetector({str(self.path)!r}, family={self.family!r}, input_size={self.input_size}, "
                f"backend={self.backend!r})")
