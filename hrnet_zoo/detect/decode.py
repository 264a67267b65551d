"""Pre-processing and output decoding of the YOLOX and RTMDet ONNX exports.

Pre-processing, as each family's own deployment code prepares an image (YOLOX's
``yolox/data/data_augment.py`` ``preproc`` and its ONNXRuntime demo; mmdet's test pipelines, which rtmlib
reproduces): the image is resized keeping its aspect ratio by ``r = min(H_in / h, W_in / w)`` to
``int(h r) × int(w r)`` (bilinear), put in the top-left corner of an ``H_in × W_in`` canvas filled with
114, in BGR channel order; YOLOX takes the 0–255 values as they are, RTMDet subtracts mean
``(103.53, 116.28, 123.675)`` and divides by std ``(57.375, 57.12, 58.395)`` (BGR order).

Outputs:

* YOLOX as exported by its ``tools/export_onnx.py`` (no decoding in the graph): one ``1×A×(5+C)`` tensor,
  per anchor point ``dx, dy, log w, log h`` in grid units, objectness and C class probabilities (the
  sigmoids are in the graph); the points are the cells of the stride 8, 16 and 32 grids, row by row.
  Centre ``(cell + d) × stride``, size ``exp(log w) × stride``, score objectness × class probability.
* mmdeploy's ``end2end.onnx`` (RTMDet, and the YOLOX models mmpose/rtmlib ship): ``dets`` ``1×K×5``
  ``x1, y1, x2, y2, score`` in input pixels after the graph's own NMS, and ``labels`` ``1×K``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hrnet_zoo.errors import DetectorError

PAD_VALUE = 114
YOLOX_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Preprocess:
    """How one detector family wants its input: pad value, channel order, normalisation (None: raw 0–255)."""

    pad_value: int = PAD_VALUE
    bgr: bool = True
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


FAMILIES = {
    "yolox": Preprocess(),
    # mmdet's RTMDet configs: mean/std in BGR order, bgr_to_rgb=False.
    "rtmdet": Preprocess(mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395)),
}


def letterbox(image: np.ndarray, input_size: tuple[int, int], spec: Preprocess) -> tuple[np.ndarray, float]:
    """``image`` H×W×3 uint8 RGB → (1×3×H_in×W_in float32 network input, resize ratio ``r``).

    A box of the network input maps back to the image by dividing its coordinates by ``r``.
    """
    height, width = image.shape[:2]
    in_h, in_w = input_size
    ratio = min(in_h / height, in_w / width)
    new_h, new_w = max(1, int(height * ratio)), max(1, int(width * ratio))
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    if (new_h, new_w) != (height, width):
        pixels = F.interpolate(pixels, size=(new_h, new_w), mode="bilinear", align_corners=False)
        pixels = pixels.round().clamp(0, 255)  # the references resize in uint8
    canvas = torch.full((1, 3, in_h, in_w), float(spec.pad_value))
    canvas[:, :, :new_h, :new_w] = pixels
    if spec.bgr:
        canvas = canvas.flip(1)
    if spec.mean is not None:
        canvas = (canvas - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    return canvas.numpy(), ratio


def yolox_grid(input_size: tuple[int, int], strides=YOLOX_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """A×2 grid cells ``(column, row)`` and A strides of YOLOX's anchor points, in output order."""
    cells, cell_strides = [], []
    for stride in strides:
        rows, cols = input_size[0] // stride, input_size[1] // stride
        row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cells.append(np.stack([col.reshape(-1), row.reshape(-1)], axis=1))
        cell_strides.append(np.full(rows * cols, stride))
    return np.concatenate(cells).astype(np.float64), np.concatenate(cell_strides).astype(np.float64)


def decode_yolox(raw: np.ndarray, input_size: tuple[int, int], ratio: float, class_ids=None,
                 score_threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX's raw ``1×A×(5+C)`` output → (M×5 ``x, y, w, h, score`` in image pixels, M labels).

    One row per anchor point and class of ``class_ids`` (None: every class) scoring at least
    ``score_threshold``, in anchor order.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 3:
        raw = raw[0]
    cells, strides = yolox_grid(input_size)
    if raw.ndim != 2 or raw.shape[1] < 6 or len(raw) != len(cells):
        raise DetectorError(f"a YOLOX output must be 1×{len(cells)}×(5+C) for a {input_size[0]}×{input_size[1]} "
                            f"input (strides {YOLOX_STRIDES}), got {tuple(np.shape(raw))}")
    centre = (raw[:, :2] + cells) * strides[:, None]
    size = np.exp(np.minimum(raw[:, 2:4], 50.0)) * strides[:, None]  # a wild log-size must not overflow
    boxes = np.concatenate([centre - size / 2, size], axis=1) / ratio
    scores = raw[:, 4:5] * raw[:, 5:]                                   # A×C
    classes = np.arange(scores.shape[1]) if class_ids is None else np.asarray(list(class_ids), dtype=np.int64)
    if classes.size and (classes.min() < 0 or classes.max() >= scores.shape[1]):
        raise DetectorError(f"class_ids {list(classes)} out of range: the model has {scores.shape[1]} classes")
    anchor, column = np.nonzero(scores[:, classes] >= score_threshold)  # before 8400 × 80 rows are built
    dets = np.concatenate([boxes[anchor], scores[anchor, classes[column]][:, None]], axis=1)
    return dets, classes[column]


def decode_end2end(dets: np.ndarray, labels: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """mmdeploy's ``dets`` ``1×K×5`` (``x1, y1, x2, y2, score`` in input pixels) and ``labels`` ``1×K`` →
    (K×5 ``x, y, w, h, score`` in image pixels, K labels)."""
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != len(dets):
        raise DetectorError(f"an end2end export gives as many labels as dets, got {len(labels)} and {len(dets)}")
    corners = dets[:, :4] / ratio
    boxes = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
    return np.concatenate([boxes, dets[:, 4:5]], axis=1), labels
