"""Training augmentation of the official top-down pipeline, as one affine map per sample.

The official ``JointsDataset.__getitem__`` (deep-high-resolution-net.pytorch) does, in order:

1. half body, with probability 0.3 when more than ``num_joints_half_body`` keypoints are labelled:
   the box becomes the one around the upper or the lower keypoints, ×1.5;
2. random scale: ``s · clip(1 + 0.35·N(0, 1), 0.65, 1.35)`` (±35 %);
3. rotation, with probability 0.6: ``clip(45·N(0, 1), −90, 90)`` degrees (σ = 45°);
4. horizontal flip with probability 0.5: the image is mirrored (x → W − 1 − x), the centre too, and
   left/right keypoints swap;
5. ``get_affine_transform(c, s, r, input_size)``, applied to the image and to the keypoints.

Here the flip is folded into the affine map (mirror, then the crop transform:
`hrnet_zoo.pose.geometry.crop_transforms()`), so one bilinear warp (`hrnet_zoo.pose.geometry.crop_images()`)
makes the crop, and keypoints go through exactly the same matrix (`hrnet_zoo.pose.geometry.affine_points()`).
The geometry lives in `hrnet_zoo.pose.geometry`, shared with inference; nothing here re-implements it.

Random numbers come from a ``numpy.random.Generator`` the caller seeds (the dataset seeds one per
sample from ``(seed, epoch, index)``), so a sample's augmentation does not depend on the worker or the
number of workers that makes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hrnet_zoo.pose.geometry import (  # noqa: F401  (compose_affine … crop_transforms: re-exported, their old home)
    compose_affine,
    crop_transforms,
    mirror_matrix,
    size_to_scale,
)
from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS, KeypointSet

#: COCO's upper-body keypoints (nose … right wrist) in the official half-body transform.
COCO_UPPER_BODY_IDS = tuple(range(11))


@dataclass(frozen=True)
class AugmentConfig:
    """The official COCO training augmentation (``w32_256x192_adam_lr1e-3.yaml``).

    Attributes:
        scale_factor: random scale ``clip(1 + f·N(0, 1), 1 − f, 1 + f)``.
        rotation_factor: rotation ``clip(f·N(0, 1), −2f, 2f)`` degrees ...
        rotation_prob: ... applied with this probability (else 0°).
        flip_prob: horizontal flip probability (swaps the flip pairs).
        half_body_prob: probability of the half-body crop ...
        half_body_min_joints: ... when more than this many keypoints are labelled (None: K // 2, which
            is the official 8 for COCO's 17).
        upper_body_ids: keypoints of the "upper" half (None: COCO's 0…10 for the COCO set, else the
            first ⌈K/2⌉ keypoints; give your own for a layout where that is not a sensible half).
    """

    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int | None = None
    upper_body_ids: tuple[int, ...] | None = None

    def upper_ids(self, keypoints: KeypointSet) -> tuple[int, ...]:
        if self.upper_body_ids is not None:
            return tuple(int(i) for i in self.upper_body_ids)
        if keypoints.keypoint_names == COCO_KEYPOINTS.keypoint_names:
            return COCO_UPPER_BODY_IDS
        return tuple(range((keypoints.num_keypoints + 1) // 2))

    def min_joints(self, num_keypoints: int) -> int:
        return num_keypoints // 2 if self.half_body_min_joints is None else int(self.half_body_min_joints)


def half_body_center_scale(joints: np.ndarray, visible: np.ndarray, upper_ids: Sequence[int], aspect_ratio: float,
                           rng: np.random.Generator):
    """The official ``half_body_transform``: centre and scale (×1.5) of the upper or lower labelled
    keypoints, or None when fewer than 2 are labelled in the chosen half.

    The official draw is ``randn() < 0.5`` (not ``rand()``): the upper half is chosen about 69 % of the
    time when it has more than 2 labelled keypoints; that is kept.
    """
    upper_set = set(upper_ids)
    labelled = [i for i in range(len(joints)) if visible[i] > 0]
    upper = [joints[i, :2] for i in labelled if i in upper_set]
    lower = [joints[i, :2] for i in labelled if i not in upper_set]
    if rng.standard_normal() < 0.5 and len(upper) > 2:
        selected = upper
    else:
        selected = lower if len(lower) > 2 else upper
    if len(selected) < 2:
        return None
    selected = np.asarray(selected, dtype=np.float64)
    w, h = selected.max(axis=0) - selected.min(axis=0)
    return selected.mean(axis=0), size_to_scale(w, h, aspect_ratio, padding=1.5)


def random_crop(center: np.ndarray, scale: np.ndarray, joints: np.ndarray, visible: np.ndarray,
                image_width: int, keypoints: KeypointSet, aspect_ratio: float, config: AugmentConfig,
                rng: np.random.Generator):
    """Draw one sample's augmentation, in the official order.

    Returns ``(center, scale, rotation, flip)``: the crop parameters in the coordinates of the image
    after the flip (mirror) when ``flip`` is True, as the official code computes them.
    """
    center, scale = np.array(center, dtype=np.float64), np.array(scale, dtype=np.float64)
    k = len(joints)
    if (visible > 0).sum() > config.min_joints(k) and rng.random() < config.half_body_prob:
        half = half_body_center_scale(joints, visible, config.upper_ids(keypoints), aspect_ratio, rng)
        if half is not None:
            center, scale = half
    sf, rf = config.scale_factor, config.rotation_factor
    scale = scale * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
    rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) if rng.random() <= config.rotation_prob \
        else 0.0
    flip = bool(config.flip_prob > 0 and rng.random() <= config.flip_prob)
    if flip:
        center = np.array([image_width - center[0] - 1, center[1]])
    return center, scale, rotation, flip
