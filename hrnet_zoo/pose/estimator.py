"""`PoseEstimator`: whole images in, people's keypoints out (a detector, then the top-down model).

>>> estimator = hrnet_zoo.PoseEstimator(model, detector="full")        # or any detector callable
>>> people = estimator(image)                                          # [PoseInstance, ...]
>>> per_image = estimator([image_a, image_b])                          # [[PoseInstance, ...], ...]

A detector is any callable ``image (H×W×3 uint8 RGB numpy) -> N×5 array (x, y, w, h, score)`` (N×4:
every score 1); ``"full"`` makes the whole image one box (cropped data sets, one animal per photo);
``None`` means the boxes come with each call (``estimator(image, boxes=...)``). Detections pass a
score threshold and a greedy box NMS before the crops; boxes given with a call are used as they are.

Crops of all the images of a call (or of a stream of frames, `PoseEstimator.stream`) share model
batches of up to ``batch_size`` through `hrnet_zoo.pose.inference.iter_predictions`, the core that
`hrnet_zoo.predict_keypoints` runs: the same crop, flip test and decode, so the same keypoints.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from hrnet_zoo.detect.boxes import as_detections, filter_detections
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pose.inference import crop_settings, iter_predictions
from hrnet_zoo.pose.scoring import IN_VIS_THRESHOLD, rescore

#: Detector defaults: mmpose's top-down demo keeps boxes scoring ≥ 0.3; 0.5 IoU is torchvision's
#: detection NMS default, loose enough to keep two people standing close.
DEFAULT_SCORE_THRESHOLD = 0.3
DEFAULT_NMS_THRESHOLD = 0.5


@dataclass
class PoseInstance:
    """One person (or animal): ``box`` (4,) x, y, w, h in image pixels, ``box_score``, ``keypoints`` K×3
    (x, y, score) in image pixels and ``score``, the official rescoring (mean keypoint score above 0.2,
    times the box score)."""

    box: np.ndarray
    box_score: float
    keypoints: np.ndarray
    score: float


def rgb_array(image) -> np.ndarray:
    """What a detector is given: H×W×3 uint8 RGB numpy, from any image `predict_keypoints` takes."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise InvalidArgumentError(f"expected a 3×H×W RGB image tensor, got shape {tuple(image.shape)}")
        if image.dtype != torch.uint8:
            image = (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return image.permute(1, 2, 0).cpu().numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidArgumentError(f"expected an H×W×3 RGB image array, got shape {image.shape}")
    return image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _image_size(image) -> tuple[int, int]:
    """(H, W) of a numpy H×W×3, tensor 3×H×W or PIL image."""
    if isinstance(image, torch.Tensor):
        return tuple(image.shape[-2:])
    if isinstance(image, np.ndarray):
        return image.shape[:2]
    return image.size[1], image.size[0]  # PIL: (width, height)


class PoseEstimator:
    """Keypoints of every person in whole images: detector → crops batched across images → model → decode.

    Args:
        model_or_runner: a pose model in eval mode (refused in train mode, never changed) or a runner
            from `hrnet_zoo.optimize()` (a fixed-batch runner gets full batches).
        detector: a callable ``H×W×3 uint8 RGB -> N×5 (x, y, w, h, score)``, ``"full"`` (the whole
            image is one box, score 1) or None (boxes with each call).
        batch_size: crops per model call, shared across the images of a call or stream.
        flip_test, decoder, input_size, flip_pairs: as `hrnet_zoo.predict_keypoints()`; ``None`` takes
            the model's ``pretrained_cfg`` (see ``repr(estimator)`` for what was chosen).
        score_threshold: detections scoring below are dropped (None keeps all).
        nms_threshold: detections overlapping a better one by IoU above it are dropped (None: no NMS).

    Calling it on one image (H×W×3 uint8 numpy, PIL image or 3×H×W tensor) gives a list of
    `PoseInstance`; on a list of images (or an N×H×W×3 array), one such list per image.
    """

    def __init__(self, model_or_runner, detector=None, *, batch_size: int = 8, flip_test: bool = True,
                 decoder: str | None = None, input_size=None, flip_pairs=None,
                 score_threshold: float | None = DEFAULT_SCORE_THRESHOLD,
                 nms_threshold: float | None = DEFAULT_NMS_THRESHOLD):
        if not (detector is None or detector == "full" or callable(detector)):
            raise InvalidArgumentError(f"detector must be a callable image -> N×5 (x, y, w, h, score), 'full' or "
                                       f"None, got {detector!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
        for name, value in (("score_threshold", score_threshold), ("nms_threshold", nms_threshold)):
            if value is not None and not (isinstance(value, (int, float)) and np.isfinite(value)):
                raise InvalidArgumentError(f"{name} must be a number or None, got {value!r}")
        self.model = model_or_runner
        self.detector = detector
        self.batch_size = int(batch_size)
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.settings = crop_settings(model_or_runner, flip_test=flip_test, decoder=decoder, input_size=input_size,
                                      flip_pairs=flip_pairs)

    def __repr__(self) -> str:
        s = self.settings
        pairs = "given" if s.flip_pairs is not None else "from pretrained_cfg (COCO/MPII by K without one)"
        detector = self.detector if self.detector in (None, "full") else type(self.detector).__name__
        return (f"PoseEstimator(detector={detector!r}, input_size={s.input_size}, decoder={s.decoder!r}, "
                f"flip_test={s.flip_test} (pairs {pairs}), mean={tuple(s.cfg.mean)}, std={tuple(s.cfg.std)}, "
                f"batch_size={self.batch_size}, score_threshold={self.score_threshold}, "
                f"nms_threshold={self.nms_threshold})")

    def __call__(self, images, boxes=None):
        single = _is_single_image(images)
        frames = [images] if single else list(images)
        if boxes is not None:
            boxes = [boxes] if single else list(boxes)
            if len(boxes) != len(frames):
                raise InvalidArgumentError(f"boxes: one N×4 or N×5 array per image expected, got {len(boxes)} for "
                                           f"{len(frames)} images")
        people = list(self.stream(frames, boxes))
        return people[0] if single else people

    def stream(self, frames: Iterable, boxes: Iterable | None = None) -> Iterator[list[PoseInstance]]:
        """The instances of each frame of an iterable (a video's frames), in order, lazily: crops of
        consecutive frames share batches, so a frame's result comes once its last crop has run."""
        boxes_iter = iter(boxes) if boxes is not None else None
        detections = deque()  # per frame queued in the core, oldest first

        def items():
            for frame in frames:
                frame_boxes = next(boxes_iter, None) if boxes_iter is not None else None
                found = self.detect(frame) if frame_boxes is None else as_detections(frame_boxes, "boxes")
                detections.append(found)
                yield frame, found[:, :4]

        for result in iter_predictions(self.model, items(), self.settings, self.batch_size):
            found = detections.popleft()
            keypoints = result.keypoints.numpy()
            scores = rescore(keypoints, found[:, 4], IN_VIS_THRESHOLD) if len(found) else np.zeros(0)
            yield [PoseInstance(box.copy(), float(det_score), kpts, float(score))
                   for box, det_score, kpts, score in zip(found[:, :4], found[:, 4], keypoints, scores)]

    def detect(self, image) -> np.ndarray:
        """N×5 detections of one image after the score threshold and NMS (``"full"``: the whole image)."""
        if self.detector is None:
            raise InvalidArgumentError("this PoseEstimator has no detector: pass boxes=... with each call, or "
                                       "build it with detector='full' (whole image) or a detector callable")
        if self.detector == "full":
            height, width = _image_size(image)
            return np.array([[0.0, 0.0, float(width), float(height), 1.0]])
        found = self.detector(rgb_array(image))
        if isinstance(found, torch.Tensor):
            found = found.detach().cpu().numpy()
        # one filter for every detector: degenerate and non-finite boxes, the threshold, NMS (hrnet_zoo.detect)
        found = as_detections(found, "the detector's output")
        if not np.isfinite(found).all():  # a broken detector, not boxes to drop quietly
            raise InvalidArgumentError("the detector gave non-finite boxes or scores")
        threshold = -np.inf if self.score_threshold is None else self.score_threshold
        return filter_detections(found, threshold,
                                 nms_iou=self.nms_threshold)


def _is_single_image(images) -> bool:
    if hasattr(images, "convert") and hasattr(images, "mode"):
        return True
    if isinstance(images, (np.ndarray, torch.Tensor)):
        return images.ndim == 3
    return False
