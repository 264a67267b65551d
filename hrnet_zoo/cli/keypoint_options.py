"""Keypoint-set options of ``train``, ``evaluate`` and ``predict``: ``--keypoint-set``, ``--category-id``,
and the summary line each prints when it starts."""
from __future__ import annotations

import sys

from hrnet_zoo.cli import UsageError


def print_keypoint_summary(choice, flip_test: bool) -> None:
    """The keypoint set's summary line and warnings, on stderr (stdout stays pure JSON under --json)."""
    from hrnet_zoo.pose.inference import keypoint_summary

    for line in keypoint_summary(choice, flip_test):
        print(line, file=sys.stderr, flush=True)


def check_keypoint_set(name: str | None) -> None:
    """A usage error (exit 2) for a --keypoint-set that is no preset."""
    from hrnet_zoo.pose.keypoint_set import list_presets

    if name is not None and name.lower() not in list_presets():
        raise UsageError(f"unknown --keypoint-set {name!r}; presets: {', '.join(list_presets())}")


def predict_keypoint_set(model, keypoint_set: str | None, flip_pairs, category_id, flip_test: bool):
    """predict's keypoint set (the model's config unless ``--keypoint-set`` / ``--flip-pairs``, given
    parsed) and whether the flip test runs; prints the summary line."""
    import dataclasses

    from hrnet_zoo.errors import DatasetError
    from hrnet_zoo.pose.inference import flip_test_decision
    from hrnet_zoo.pose.keypoint_set import KeypointChoice, KeypointSet, keypoint_set_for

    k = getattr(model, "num_keypoints", None)
    kset, source = model.pretrained_cfg.keypoints, "the model's config"
    if keypoint_set is not None:
        kset, source = KeypointSet.preset(keypoint_set), f"keypoint set {keypoint_set}"
    if kset is None:
        kset = keypoint_set_for(k) or KeypointSet.from_names([f"keypoint_{i}" for i in range(k)], name="model")
    if k is not None and kset.num_keypoints != k:
        raise DatasetError(f"keypoint set {kset.name!r} ({source}) has {kset.num_keypoints} keypoints but the "
                           f"model predicts {k}")
    if flip_pairs is not None:
        kset, source = dataclasses.replace(kset, flip_pairs=tuple(map(tuple, flip_pairs))), "--flip-pairs"
    category_ids = () if category_id is None else (category_id,)
    choice = KeypointChoice(kset, category_ids, source if kset.flip_pairs else "none", "not used by predict")
    print_keypoint_summary(choice, flip_test)
    return kset, flip_test_decision(flip_test, kset)[0]


def add_keypoint_options(p) -> None:
    """--keypoint-set and --category-id (train, evaluate, predict)."""
    p.add_argument("--keypoint-set", metavar="NAME",
                   help="a data set's layout (flip pairs, sigmas, metrics; also for files without keypoint "
                        "names): coco, mpii, ap10k, wflw … (see docs/fine-tuning.md)")
    p.add_argument("--category-id", type=int, metavar="ID",
                   help="the keypoint category, when the file's categories have different keypoint lists")
