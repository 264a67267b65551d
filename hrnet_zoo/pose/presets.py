"""Keypoint layouts of public data sets, as plain data: names, skeleton, flip pairs, OKS sigmas, metrics.

`hrnet_zoo.pose.keypoint_set` builds a `KeypointSet` of each (`KeypointSet.preset()`, `list_presets()`). The facts
are each data set's own definitions; where one is cited as mmpose's ``configs/_base_/datasets/<file>.py``
(open-mmlab/mmpose, commit 759b39c), that file transcribes the data set's release (names, left/right swaps,
skeleton links, and the OKS sigmas where the data set defines them). A preset without ``flip_pairs`` gets
them from its names (`hrnet_zoo.pose.keypoint_set.flip_pairs_from_names()` pairs every mmpose swap of those
sets); one without ``sigmas`` gets `hrnet_zoo.pose.keypoint_set.DEFAULT_SIGMA` (its data set scores no OKS).
``metrics`` are the conventional ones of the data set's papers and benchmarks (AP: COCO OKS AP;
PCK/AUC: hands, insects, MPII's PCKh; NME: faces, normalised by ``nme_pair``, the outer eye corners,
or by the box when None; Horse-10 normalises by nose-eye distance).

This module imports nothing of the package (the data sits below `hrnet_zoo.pose.keypoint_set`).
"""
from __future__ import annotations


def _numbered(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(count))


_PRESETS: dict[str, dict] = {}

# coco: http://cocodataset.org/#keypoints-eval (person_keypoints category; sigmas of cocoapi
# PythonAPI/pycocotools/cocoeval.py); flip pairs as HRNet lib/dataset/coco.py.
COCO_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow',
    'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle',
)
_PRESETS["coco"] = dict(
    names=COCO_NAMES,
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
        (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089,
    ),
    metrics=("AP",), nme_pair=None,
)
COCO_SIGMAS = _PRESETS["coco"]["sigmas"]

# mpii: http://human-pose.mpi-inf.mpg.de/ (joint order of its annotations, flip pairs as HRNet
# lib/dataset/mpii.py); MPII scores PCKh and has no OKS: sigmas as mmpose configs/_base_/datasets/mpii.py.
_PRESETS["mpii"] = dict(
    names=(
        'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle', 'pelvis', 'thorax',
        'upper_neck', 'head_top', 'right_wrist', 'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow',
        'left_wrist',
    ),
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11), (11, 10),
        (8, 13), (13, 14), (14, 15),
    ),
    sigmas=(
        0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179, 0.072,
        0.062,
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    metrics=("PCK",), nme_pair=None,
)

# The 21 keypoints of one hand, OneHand10K / FreiHAND order (mmpose onehand10k.py, freihand2d.py).
HAND21_NAMES = (
    'wrist', 'thumb1', 'thumb2', 'thumb3', 'thumb4', 'forefinger1', 'forefinger2', 'forefinger3', 'forefinger4',
    'middle_finger1', 'middle_finger2', 'middle_finger3', 'middle_finger4', 'ring_finger1', 'ring_finger2',
    'ring_finger3', 'ring_finger4', 'pinky_finger1', 'pinky_finger2', 'pinky_finger3', 'pinky_finger4',
)
# COCO-WholeBody: 17 body, 6 feet, 68 face (300W's order), 21 left-hand and 21 right-hand keypoints.
_WHOLEBODY_NAMES = (COCO_NAMES
                    + ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
                    + _numbered("face-", 68)
                    + tuple(f"{side}_{'hand_root' if n == 'wrist' else n}" for side in ("left", "right")
                            for n in HAND21_NAMES))

_300W_FLIP_PAIRS = (
    (0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9), (17, 26), (18, 25), (19, 24),
    (20, 23), (21, 22), (31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67),
)

# coco_wholebody: https://github.com/jin-s13/COCO-WholeBody/
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/coco_wholebody.py
_PRESETS["coco_wholebody"] = dict(
    names=_WHOLEBODY_NAMES,
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (15, 17), (15, 18), (15, 19), (16, 20), (16, 21),
        (16, 22), (91, 92), (92, 93), (93, 94), (94, 95), (91, 96), (96, 97), (97, 98), (98, 99), (91, 100),
        (100, 101), (101, 102), (102, 103), (91, 104), (104, 105), (105, 106), (106, 107), (91, 108), (108, 109),
        (109, 110), (110, 111), (112, 113), (113, 114), (114, 115), (115, 116), (112, 117), (117, 118), (118, 119),
        (119, 120), (112, 121), (121, 122), (122, 123), (123, 124), (112, 125), (125, 126), (126, 127), (127, 128),
        (112, 129), (129, 130), (130, 131), (131, 132),
    ),
    flip_pairs=None, extra_flip_pairs=tuple((a + 23, b + 23) for a, b in _300W_FLIP_PAIRS),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089, 0.068, 0.066, 0.066, 0.092, 0.094, 0.094, 0.042, 0.043, 0.044, 0.043, 0.04, 0.035, 0.031,
        0.025, 0.02, 0.023, 0.029, 0.032, 0.037, 0.038, 0.043, 0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012,
        0.012, 0.011, 0.011, 0.013, 0.015, 0.009, 0.007, 0.007, 0.007, 0.012, 0.009, 0.008, 0.016, 0.01, 0.017,
        0.011, 0.009, 0.011, 0.009, 0.007, 0.013, 0.008, 0.011, 0.012, 0.01, 0.034, 0.008, 0.008, 0.009, 0.008,
        0.008, 0.007, 0.01, 0.008, 0.009, 0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.01,
        0.008, 0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017,
        0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031, 0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024,
        0.035, 0.018, 0.024, 0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031,
    ),
    metrics=('AP',), nme_pair=None,
)

# crowdpose: https://github.com/Jeff-sjtu/CrowdPose
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/crowdpose.py
_PRESETS["crowdpose"] = dict(
    names=(
        'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
        'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle', 'top_head', 'neck',
    ),
    skeleton=(
        (10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (12, 13),
        (1, 13), (0, 13),
    ),
    sigmas=(
        0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079,
    ),
    metrics=('AP',), nme_pair=None,
)

# aic: https://github.com/AIChallenger/AI_Challenger_2017
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/aic.py
_PRESETS["aic"] = dict(
    names=(
        'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder', 'left_elbow', 'left_wrist', 'right_hip',
        'right_knee', 'right_ankle', 'left_hip', 'left_knee', 'left_ankle', 'head_top', 'neck',
    ),
    skeleton=(
        (2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9), (9, 10), (10, 11), (12, 13),
        (0, 6), (3, 9),
    ),
    sigmas=(
        0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642, 0.03686941, 0.01981803,
        0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173,
    ),
    metrics=('AP',), nme_pair=None,
)

# posetrack18: https://posetrack.net/users/download.php
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/posetrack18.py
_PRESETS["posetrack18"] = dict(
    names=(
        'nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow',
        'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee',
        'left_ankle', 'right_ankle',
    ),
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
        (0, 1), (0, 2), (1, 5), (1, 6),
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089,
    ),
    metrics=('AP',), nme_pair=None,
)

# halpe26: https://github.com/Fang-Haoshu/Halpe-FullBody/
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/halpe26.py
_PRESETS["halpe26"] = dict(
    names=(
        'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow',
        'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee',
        'left_ankle', 'right_ankle', 'head', 'neck', 'hip', 'left_big_toe', 'right_big_toe', 'left_small_toe',
        'right_small_toe', 'left_heel', 'right_heel',
    ),
    skeleton=(
        (15, 13), (13, 11), (11, 19), (16, 14), (14, 12), (12, 19), (17, 18), (18, 19), (18, 5), (5, 7), (7, 9),
        (18, 6), (6, 8), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (15, 20), (15, 22),
        (15, 24), (16, 21), (16, 23), (16, 25),
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089, 0.026, 0.026, 0.066, 0.079, 0.079, 0.079, 0.079, 0.079, 0.079,
    ),
    metrics=('AP',), nme_pair=None,
)

# ap10k: https://github.com/AlexTheBad/AP-10K
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/ap10k.py
_PRESETS["ap10k"] = dict(
    names=(
        'L_Eye', 'R_Eye', 'Nose', 'Neck', 'Root of tail', 'L_Shoulder', 'L_Elbow', 'L_F_Paw', 'R_Shoulder',
        'R_Elbow', 'R_F_Paw', 'L_Hip', 'L_Knee', 'L_B_Paw', 'R_Hip', 'R_Knee', 'R_B_Paw',
    ),
    skeleton=(
        (0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9), (9, 10), (4, 11), (11, 12),
        (12, 13), (4, 14), (14, 15), (15, 16),
    ),
    sigmas=(
        0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087, 0.089, 0.107,
        0.087, 0.089,
    ),
    metrics=('AP',), nme_pair=None,
)

# animalpose: https://sites.google.com/view/animal-pose/
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/animalpose.py
_PRESETS["animalpose"] = dict(
    names=(
        'L_Eye', 'R_Eye', 'L_EarBase', 'R_EarBase', 'Nose', 'Throat', 'TailBase', 'Withers', 'L_F_Elbow',
        'R_F_Elbow', 'L_B_Elbow', 'R_B_Elbow', 'L_F_Knee', 'R_F_Knee', 'L_B_Knee', 'R_B_Knee', 'L_F_Paw', 'R_F_Paw',
        'L_B_Paw', 'R_B_Paw',
    ),
    skeleton=(
        (0, 1), (0, 2), (1, 3), (0, 4), (1, 4), (4, 5), (5, 7), (6, 7), (5, 8), (8, 12), (12, 16), (5, 9), (9, 13),
        (13, 17), (6, 10), (10, 14), (14, 18), (6, 11), (11, 15), (15, 19),
    ),
    sigmas=(
        0.025, 0.025, 0.026, 0.035, 0.035, 0.1, 0.1, 0.1, 0.107, 0.107, 0.107, 0.107, 0.087, 0.087, 0.087, 0.087,
        0.089, 0.089, 0.089, 0.089,
    ),
    metrics=('AP',), nme_pair=None,
)

# atrw: https://cvwc2019.github.io/challenge.html
# names, swaps, skeleton, sigmas: mmpose configs/_base_/datasets/atrw.py
_PRESETS["atrw"] = dict(
    names=(
        'left_ear', 'right_ear', 'nose', 'right_shoulder', 'right_front_paw', 'left_shoulder', 'left_front_paw',
        'right_hip', 'right_knee', 'right_back_paw', 'left_hip', 'left_knee', 'left_back_paw', 'tail', 'center',
    ),
    skeleton=(
        (0, 2), (1, 2), (2, 14), (5, 6), (5, 14), (3, 4), (3, 14), (13, 14), (9, 8), (8, 7), (7, 13), (12, 11),
        (11, 10), (10, 13),
    ),
    sigmas=(
        0.0277, 0.0823, 0.0831, 0.0202, 0.0716, 0.0263, 0.0646, 0.0302, 0.044, 0.0316, 0.0333, 0.0547, 0.0263,
        0.0683, 0.0539,
    ),
    metrics=('AP',), nme_pair=None,
)

# horse10: http://www.mackenziemathislab.org/horse10
# names, swaps, skeleton: mmpose configs/_base_/datasets/horse10.py
_PRESETS["horse10"] = dict(
    names=(
        'Nose', 'Eye', 'Nearknee', 'Nearfrontfetlock', 'Nearfrontfoot', 'Offknee', 'Offfrontfetlock',
        'Offfrontfoot', 'Shoulder', 'Midshoulder', 'Elbow', 'Girth', 'Wither', 'Nearhindhock', 'Nearhindfetlock',
        'Nearhindfoot', 'Hip', 'Stifle', 'Offhindhock', 'Offhindfetlock', 'Offhindfoot', 'Ischium',
    ),
    skeleton=(
        (0, 1), (1, 12), (12, 16), (16, 21), (21, 17), (17, 11), (11, 10), (10, 8), (8, 9), (9, 12), (2, 3), (3, 4),
        (5, 6), (6, 7), (13, 14), (14, 15), (18, 19), (19, 20),
    ),
    metrics=('PCK', 'NME'), nme_pair=(0, 1),
)

# zebra: https://github.com/jgraving/DeepPoseKit-Data
# names, swaps, skeleton: mmpose configs/_base_/datasets/zebra.py
_PRESETS["zebra"] = dict(
    names=(
        'snout', 'head', 'neck', 'forelegL1', 'forelegR1', 'hindlegL1', 'hindlegR1', 'tailbase', 'tailtip',
    ),
    skeleton=(
        (1, 0), (2, 1), (3, 2), (4, 2), (5, 7), (6, 7), (7, 2), (8, 7),
    ),
    metrics=('PCK', 'AUC'), nme_pair=None,
)

# locust: https://github.com/jgraving/DeepPoseKit-Data
# names, swaps, skeleton: mmpose configs/_base_/datasets/locust.py
_PRESETS["locust"] = dict(
    names=(
        'head', 'neck', 'thorax', 'abdomen1', 'abdomen2', 'anttipL', 'antbaseL', 'eyeL', 'forelegL1', 'forelegL2',
        'forelegL3', 'forelegL4', 'midlegL1', 'midlegL2', 'midlegL3', 'midlegL4', 'hindlegL1', 'hindlegL2',
        'hindlegL3', 'hindlegL4', 'anttipR', 'antbaseR', 'eyeR', 'forelegR1', 'forelegR2', 'forelegR3', 'forelegR4',
        'midlegR1', 'midlegR2', 'midlegR3', 'midlegR4', 'hindlegR1', 'hindlegR2', 'hindlegR3', 'hindlegR4',
    ),
    skeleton=(
        (1, 0), (2, 1), (3, 2), (4, 3), (6, 5), (7, 6), (9, 8), (10, 9), (11, 10), (13, 12), (14, 13), (15, 14),
        (17, 16), (18, 17), (19, 18), (21, 20), (22, 21), (24, 23), (25, 24), (26, 25), (28, 27), (29, 28),
        (30, 29), (32, 31), (33, 32), (34, 33),
    ),
    metrics=('PCK', 'AUC'), nme_pair=None,
)

# fly: https://github.com/jgraving/DeepPoseKit-Data
# names, swaps, skeleton: mmpose configs/_base_/datasets/fly.py
_PRESETS["fly"] = dict(
    names=(
        'head', 'eyeL', 'eyeR', 'neck', 'thorax', 'abdomen', 'forelegR1', 'forelegR2', 'forelegR3', 'forelegR4',
        'midlegR1', 'midlegR2', 'midlegR3', 'midlegR4', 'hindlegR1', 'hindlegR2', 'hindlegR3', 'hindlegR4',
        'forelegL1', 'forelegL2', 'forelegL3', 'forelegL4', 'midlegL1', 'midlegL2', 'midlegL3', 'midlegL4',
        'hindlegL1', 'hindlegL2', 'hindlegL3', 'hindlegL4', 'wingL', 'wingR',
    ),
    skeleton=(
        (1, 0), (2, 0), (3, 0), (4, 3), (5, 4), (7, 6), (8, 7), (9, 8), (11, 10), (12, 11), (13, 12), (15, 14),
        (16, 15), (17, 16), (19, 18), (20, 19), (21, 20), (23, 22), (24, 23), (25, 24), (27, 26), (28, 27),
        (29, 28), (30, 3), (31, 3),
    ),
    metrics=('PCK', 'AUC'), nme_pair=None,
)

# hand21: https://www.yangangwang.com/papers/WANG-MCC-2018-10.html
# names, swaps, skeleton: mmpose configs/_base_/datasets/onehand10k.py
_PRESETS["hand21"] = dict(
    names=HAND21_NAMES,
    skeleton=(
        (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
        (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
    ),
    metrics=('PCK', 'AUC'), nme_pair=None,
)

# rhd: https://lmb.informatik.uni-freiburg.de/resources/datasets/RenderedHandposeDataset.en.html
# names, swaps, skeleton: mmpose configs/_base_/datasets/rhd2d.py
_PRESETS["rhd"] = dict(
    names=(
        'wrist', 'thumb4', 'thumb3', 'thumb2', 'thumb1', 'forefinger4', 'forefinger3', 'forefinger2', 'forefinger1',
        'middle_finger4', 'middle_finger3', 'middle_finger2', 'middle_finger1', 'ring_finger4', 'ring_finger3',
        'ring_finger2', 'ring_finger1', 'pinky_finger4', 'pinky_finger3', 'pinky_finger2', 'pinky_finger1',
    ),
    skeleton=(
        (0, 4), (4, 3), (3, 2), (2, 1), (0, 8), (8, 7), (7, 6), (6, 5), (0, 12), (12, 11), (11, 10), (10, 9),
        (0, 16), (16, 15), (15, 14), (14, 13), (0, 20), (20, 19), (19, 18), (18, 17),
    ),
    metrics=('PCK', 'AUC'), nme_pair=None,
)

# wflw: https://wywu.github.io/projects/LAB/WFLW.html
# names, swaps, skeleton: mmpose configs/_base_/datasets/wflw.py
_PRESETS["wflw"] = dict(
    names=_numbered("kpt-", 98),
    skeleton=(),
    flip_pairs=(
        (0, 32), (1, 31), (2, 30), (3, 29), (4, 28), (5, 27), (6, 26), (7, 25), (8, 24), (9, 23), (10, 22),
        (11, 21), (12, 20), (13, 19), (14, 18), (15, 17), (33, 46), (34, 45), (35, 44), (36, 43), (37, 42),
        (38, 50), (39, 49), (40, 48), (41, 47), (55, 59), (56, 58), (60, 72), (61, 71), (62, 70), (63, 69),
        (64, 68), (65, 75), (66, 74), (67, 73), (76, 82), (77, 81), (78, 80), (83, 87), (84, 86), (88, 92),
        (89, 91), (93, 95), (96, 97),
    ),
    metrics=('NME',), nme_pair=(60, 72),
)

# 300w: https://ibug.doc.ic.ac.uk/resources/300-W/
# names, swaps, skeleton: mmpose configs/_base_/datasets/300w.py
_PRESETS["300w"] = dict(
    names=_numbered("kpt-", 68),
    skeleton=(),
    flip_pairs=_300W_FLIP_PAIRS,
    metrics=('NME',), nme_pair=(36, 45),
)

# aflw: https://www.tugraz.at/institute/icg/research/team-bischof/lrs/downloads/aflw/
# names, swaps, skeleton: mmpose configs/_base_/datasets/aflw.py
_PRESETS["aflw"] = dict(
    names=_numbered("kpt-", 19),
    skeleton=(),
    flip_pairs=(
        (0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17),
    ),
    metrics=('NME',), nme_pair=None,
)

# cofw: http://www.vision.caltech.edu/xpburgos/ICCV13/
# names, swaps, skeleton: mmpose configs/_base_/datasets/cofw.py
_PRESETS["cofw"] = dict(
    names=_numbered("kpt-", 29),
    skeleton=(),
    flip_pairs=(
        (0, 1), (2, 3), (4, 6), (5, 7), (8, 9), (10, 11), (12, 14), (13, 15), (16, 17), (18, 19), (22, 23),
    ),
    metrics=('NME',), nme_pair=(8, 9),
)


# Same layouts under their own data sets' names: OCHuman and MacaquePose annotate COCO's 17 keypoints
# (mmpose ochuman.py, macaque.py: COCO's names, skeleton and sigmas).
_PRESETS["ochuman"] = dict(_PRESETS["coco"])
_PRESETS["macaque"] = dict(_PRESETS["coco"])

#: Other names of a preset (the hand data sets share one 21-keypoint layout; RHD orders each finger tip first).
ALIASES = {"onehand10k": "hand21", "freihand": "hand21", "coco-wholebody": "coco_wholebody",
           "wholebody": "coco_wholebody", "ai_challenger": "aic", "animal-pose": "animalpose",
           "macaquepose": "macaque", "ap-10k": "ap10k", "halpe": "halpe26"}


def preset_data(name: str) -> dict | None:
    """The data of preset ``name`` (an alias, any case), or None."""
    key = name.lower()
    return _PRESETS.get(ALIASES.get(key, key))


def preset_names() -> list[str]:
    """Every preset name, then the aliases."""
    return list(_PRESETS) + list(ALIASES)
