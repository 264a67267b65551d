"""Stable instance ids across video frames: greedy matching on OKS (keypoints) or IoU (boxes).

The rule, frame by frame (`PoseTracker.update()`):

1. The similarity of every instance of the frame with every live track is computed: OKS of the
   instance's keypoints against the track's last keypoints (`hrnet_zoo.pose.oks.oks()`, the track's
   box area as the object area, its keypoints scoring at least ``keypoint_threshold`` as the labelled
   ones), or IoU of the boxes.
2. Pairs are taken highest similarity first; a pair is matched when the similarity is at least
   ``threshold`` and neither the instance nor the track is matched yet. A matched track takes the
   instance's box and keypoints.
3. An unmatched instance starts a new track with the next id (ids start at 1 and are never reused).
4. A track unmatched in a frame is kept for ``max_missed`` more frames (so an id survives a missed
   detection or a short occlusion), then dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrnet_zoo.detect.boxes import box_iou
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pose.keypoint_set import DEFAULT_SIGMA, keypoint_set_for
from hrnet_zoo.pose.oks import oks

METRICS = ("auto", "oks", "iou")


@dataclass
class Track:
    """One tracked instance: its id, last box (``x, y, w, h``), last keypoints (K×3 or None), frames missed."""

    track_id: int
    box: np.ndarray
    keypoints: np.ndarray | None
    missed: int = 0


class PoseTracker:
    """Gives each instance of a video frame an id that stays the same while it moves (rule: module docs).

    Args:
        metric: ``"oks"`` (needs keypoints), ``"iou"``, or ``"auto"``: OKS when keypoints are given.
        threshold: least similarity that continues a track (OKS or IoU, in [0, 1]).
        max_missed: frames a track survives without a match.
        keypoint_threshold: a track's keypoint scoring below this is left out of OKS.
        sigmas: K OKS sigmas; default: those of the built-in keypoint set with K keypoints (COCO-17,
            MPII-16), else `hrnet_zoo.pose.keypoint_set.DEFAULT_SIGMA` for each.
    """

    def __init__(self, metric: str = "auto", threshold: float = 0.3, max_missed: int = 10,
                 keypoint_threshold: float = 0.3, sigmas=None):
        if metric not in METRICS:
            raise InvalidArgumentError(f"metric must be one of {METRICS}, got {metric!r}")
        if not 0.0 <= threshold <= 1.0:
            raise InvalidArgumentError(f"threshold must lie in [0, 1], got {threshold}")
        if int(max_missed) < 0:
            raise InvalidArgumentError(f"max_missed must be >= 0, got {max_missed}")
        self.metric, self.threshold, self.max_missed = metric, float(threshold), int(max_missed)
        self.keypoint_threshold = float(keypoint_threshold)
        self.sigmas = None if sigmas is None else tuple(float(s) for s in sigmas)
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (a new video); ids start again at 1."""
        self.tracks, self._next_id = [], 1

    def _sigmas_for(self, num_keypoints: int) -> tuple[float, ...]:
        if self.sigmas is not None:
            if len(self.sigmas) != num_keypoints:
                raise InvalidArgumentError(f"{len(self.sigmas)} sigmas for {num_keypoints} keypoints")
            return self.sigmas
        known = keypoint_set_for(num_keypoints)
        return known.sigmas if known is not None else (DEFAULT_SIGMA,) * num_keypoints

    def similarity(self, boxes: np.ndarray, keypoints: np.ndarray | None) -> np.ndarray:
        """N×T similarity of N instances with the live tracks, by this tracker's metric."""
        if not self.tracks or not len(boxes):
            return np.zeros((len(boxes), len(self.tracks)))
        track_boxes = np.stack([t.box for t in self.tracks])
        use_oks = self.metric == "oks" or (self.metric == "auto" and keypoints is not None)
        if not use_oks:
            return box_iou(boxes, track_boxes)
        if keypoints is None or any(t.keypoints is None for t in self.tracks):
            raise InvalidArgumentError("metric='oks' needs keypoints in every frame (or use metric='iou')")
        previous = np.stack([t.keypoints for t in self.tracks]).astype(np.float64)
        labelled = np.where(previous[..., 2] >= self.keypoint_threshold, 2.0, 0.0)
        ground_truth = np.concatenate([previous[..., :2], labelled[..., None]], axis=-1)
        areas = np.maximum(track_boxes[:, 2] * track_boxes[:, 3], 1.0)
        return oks(keypoints[..., :2], ground_truth, areas, self._sigmas_for(keypoints.shape[1]),
                   gt_boxes=track_boxes).numpy()

    def update(self, boxes, keypoints=None) -> np.ndarray:
        """Match one frame's instances to the tracks.

        Args:
            boxes: N×4 (or N×5, score ignored) ``x, y, w, h`` of the frame's instances.
            keypoints: N×K×3 ``x, y, score`` (needed by OKS).

        Returns:
            N int64 track ids, in the order of ``boxes``.
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        boxes = np.zeros((0, 4)) if boxes.size == 0 else boxes.reshape(-1, boxes.shape[-1])[:, :4]
        if keypoints is None and self.metric == "oks":
            raise InvalidArgumentError("metric='oks' needs keypoints in every frame (or use metric='iou')")
        if keypoints is not None:
            keypoints = np.asarray(keypoints, dtype=np.float64)
            if keypoints.ndim != 3 or keypoints.shape[0] != len(boxes) or keypoints.shape[2] != 3:
                raise InvalidArgumentError(f"keypoints must be N×K×3 for {len(boxes)} boxes, got {keypoints.shape}")
        matches = self._match(self.similarity(boxes, keypoints))
        for track in self.tracks:
            track.missed += 1
        frame_tracks = []
        for i, track_index in enumerate(matches):
            kpts = None if keypoints is None else keypoints[i].copy()
            if track_index is None:
                track = Track(self._next_id, boxes[i].copy(), kpts)
                self._next_id += 1
                self.tracks.append(track)
            else:
                track = self.tracks[track_index]
                track.box, track.keypoints, track.missed = boxes[i].copy(), kpts, 0
            frame_tracks.append(track)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return np.array([t.track_id for t in frame_tracks], dtype=np.int64)

    def _match(self, similarity: np.ndarray) -> list:
        """Greedy: per instance the index of its track, or None (rule 2 of the module docs)."""
        matched: list = [None] * similarity.shape[0]
        used = set()
        order = np.argsort(-similarity, axis=None, kind="stable")
        for flat in order:
            i, t = np.unravel_index(flat, similarity.shape)
            if similarity[i, t] < self.threshold:
                break
            if matched[i] is None and t not in used:
                matched[i] = int(t)
                used.add(int(t))
        return matched
