"""Keypoint sets: names, skeleton, flip pairs and OKS sigmas of a keypoint layout (OKS: `hrnet_zoo.pose.oks`).

COCO-17 and MPII-16 are built in, and the layouts of public data sets are presets
(`KeypointSet.preset()`, `list_presets()`, data in `hrnet_zoo.pose.presets`); any other layout is made
from its names (`KeypointSet.from_names()`) or from a COCO annotation file's category
(`KeypointSet.from_coco_category()`, which resolves categories as the data loader does with
`resolve_coco_keypoints()`; `describe_keypoints()` is the summary line the commands print). Indices are
0-based (a COCO file's ``skeleton`` is 1-based, or 0-based when it has a 0, and is converted). COCO's and
MPII's flip pairs are those of the official HRNet datasets (``lib/dataset/coco.py``, ``lib/dataset/mpii.py``);
COCO sigmas are the COCO keypoint-evaluation constants; the sources of every preset are cited in
`hrnet_zoo.pose.presets`.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

from hrnet_zoo.pose.presets import ALIASES, preset_data, preset_names
from hrnet_zoo.errors import DatasetError, InvalidArgumentError
from hrnet_zoo.pose.keypoint_categories import category_group, category_skeleton, checked_sigmas
from hrnet_zoo.pose.keypoint_names import flip_indices_from_pairs, flip_pairs_from_names, names_have_sides

#: OKS sigma of a keypoint whose layout gives none: about the mean of COCO's 17 constants (0.063),
#: rounded to the middle of the body joints' range; pass ``sigmas=`` for a layout you know better.
DEFAULT_SIGMA = 0.05
#: Metrics a keypoint set can name as its data set's conventional ones.
METRIC_NAMES = ("AP", "PCK", "AUC", "NME")


@dataclass(frozen=True)
class KeypointSet:
    """Metadata of one keypoint layout: K names, skeleton (i, j) pairs, left/right flip pairs, K OKS sigmas."""

    name: str
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    #: the data set's conventional metrics, from `METRIC_NAMES` (``evaluate`` reports these by default)
    metrics: tuple[str, ...] = ("AP",)
    #: two keypoints whose distance normalises NME (faces: the outer eye corners); None: the box size
    nme_pair: tuple[int, int] | None = None

    def __post_init__(self):
        k = len(self.keypoint_names)
        if k == 0:
            raise InvalidArgumentError("a keypoint set needs at least one keypoint name")
        if len(set(self.keypoint_names)) != k:
            raise InvalidArgumentError(f"keypoint set {self.name!r} repeats a name: {list(self.keypoint_names)}")
        if len(self.sigmas) != k:
            raise InvalidArgumentError(f"keypoint set {self.name!r} has {k} names but {len(self.sigmas)} sigmas")
        if not all(float(s) > 0 for s in self.sigmas):
            raise InvalidArgumentError(f"OKS sigmas must be positive, got {list(self.sigmas)}")
        flip_indices_from_pairs(self.flip_pairs, k)  # validates the pairs
        for pair in self.skeleton:
            if len(pair) != 2 or not all(0 <= int(i) < k for i in pair):
                raise InvalidArgumentError(f"skeleton link {pair!r} is out of range for {k} keypoints")
        unknown = [m for m in self.metrics if m not in METRIC_NAMES]
        if unknown or not self.metrics:
            raise InvalidArgumentError(f"keypoint set {self.name!r}: metrics {list(self.metrics)} must be some of "
                                       f"{', '.join(METRIC_NAMES)}")
        if self.nme_pair is not None and (len(self.nme_pair) != 2 or not all(0 <= int(i) < k for i in self.nme_pair)
                                          or self.nme_pair[0] == self.nme_pair[1]):
            raise InvalidArgumentError(f"keypoint set {self.name!r}: nme_pair {self.nme_pair!r} must be two different "
                                       f"keypoint indices below {k}")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_indices(self) -> list[int]:
        """``flip_indices[k]`` is the keypoint that ``k`` becomes in a mirrored image."""
        return flip_indices_from_pairs(self.flip_pairs, self.num_keypoints)

    @classmethod
    def from_names(cls, names: Sequence[str], *, name: str = "custom", flip_pairs=None, skeleton=(),
                   sigmas=None, metrics=("AP",), nme_pair=None) -> "KeypointSet":
        """A set from its keypoint names.

        ``flip_pairs`` default to the names that differ only by a side word (`flip_pairs_from_names()`:
        ``left_eye``/``right_eye``, ``L_Eye``/``R_Eye``, ``eyeL``/``eyeR`` …); ``sigmas`` default to
        `DEFAULT_SIGMA` for every keypoint.
        """
        names = tuple(str(n) for n in names)
        pairs = flip_pairs_from_names(names) if flip_pairs is None else flip_pairs
        sigmas = (DEFAULT_SIGMA,) * len(names) if sigmas is None else sigmas
        return cls(name=name, keypoint_names=names, skeleton=_pairs(skeleton), flip_pairs=_pairs(pairs),
                   sigmas=tuple(float(s) for s in sigmas), metrics=tuple(metrics),
                   nme_pair=None if nme_pair is None else tuple(int(i) for i in nme_pair))

    @classmethod
    def preset(cls, name: str) -> "KeypointSet":
        """The keypoint set of a public data set by name (`list_presets()`; case-insensitive), with its
        official names, flip pairs, skeleton, OKS sigmas and metrics (data: `hrnet_zoo.pose.presets`)."""
        return _preset(name)

    @staticmethod
    def list_presets() -> list[str]:
        """Names `preset()` accepts (aliases included)."""
        return list_presets()

    @classmethod
    def from_coco_category(cls, category: Mapping | str | os.PathLike, category_id=None, *, flip_pairs=None,
                           sigmas=None, keypoint_set=None) -> "KeypointSet":
        """A set from a COCO keypoint category (``{"id", "name", "keypoints", "skeleton"}``, skeleton
        1-based), or from a COCO annotation file given by path, resolved exactly as the data loader does
        (`resolve_coco_keypoints()`): a file whose categories have different
        keypoint lists needs ``category_id``; names equal to a preset's get its flip pairs and sigmas."""
        where = ""
        if isinstance(category, (str, os.PathLike)):
            where = str(category)
            try:
                with open(category, encoding="utf-8") as f:
                    data = json.load(f)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise DatasetError(f"{where}: cannot read the annotation file as JSON ({e})") from None
            categories = data.get("categories") if isinstance(data, dict) else None
            if not isinstance(categories, list):
                raise DatasetError(f"{where}: no 'categories' list")
        else:
            categories = [{"id": None, **category}]  # a lone category needs no id
            if category_id is None:
                category_id = categories[0]["id"]
        choice = resolve_coco_keypoints(categories, category_id=category_id, keypoint_set=keypoint_set,
                                        flip_pairs=flip_pairs, sigmas=sigmas, where=where)
        for message in choice.warnings:
            warnings.warn(message, stacklevel=2)
        return choice.keypoint_set

    def to_dict(self) -> dict:
        """JSON-ready form (what ``save_pretrained`` writes into config.json)."""
        return {"name": self.name, "keypoint_names": list(self.keypoint_names),
                "skeleton": [list(p) for p in self.skeleton], "flip_pairs": [list(p) for p in self.flip_pairs],
                "sigmas": list(self.sigmas), "metrics": list(self.metrics),
                "nme_pair": None if self.nme_pair is None else list(self.nme_pair)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "KeypointSet":
        """The inverse of `to_dict()`; a dict written before ``metrics``/``nme_pair`` existed gets their defaults."""
        nme_pair = data.get("nme_pair")
        return cls(name=str(data["name"]), keypoint_names=tuple(data["keypoint_names"]),
                   skeleton=_pairs(data.get("skeleton", ())), flip_pairs=_pairs(data.get("flip_pairs", ())),
                   sigmas=tuple(float(s) for s in data["sigmas"]), metrics=tuple(data.get("metrics") or ("AP",)),
                   nme_pair=None if nme_pair is None else tuple(int(i) for i in nme_pair))


def _pairs(pairs) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in pairs)


def _build_preset(key: str) -> KeypointSet:
    data = preset_data(key)
    names = data["names"]
    pairs = data.get("flip_pairs")
    if pairs is None:
        pairs = flip_pairs_from_names(names) + tuple(data.get("extra_flip_pairs", ()))
    return KeypointSet.from_names(names, name=key, flip_pairs=pairs, skeleton=data.get("skeleton", ()),
                                  sigmas=data.get("sigmas"), metrics=data["metrics"], nme_pair=data["nme_pair"])


_PRESET_CACHE: dict[str, KeypointSet] = {}


def _preset(name: str) -> KeypointSet:
    if not isinstance(name, str) or preset_data(name) is None:
        raise InvalidArgumentError(f"unknown keypoint set {name!r}; presets: {', '.join(list_presets())} "
                                   "(or pass a KeypointSet / a list of names)")
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in _PRESET_CACHE:
        _PRESET_CACHE[key] = _build_preset(key)
    return _PRESET_CACHE[key]


COCO_KEYPOINTS = _preset("coco")
MPII_KEYPOINTS = _preset("mpii")

KEYPOINT_SETS = {"coco": COCO_KEYPOINTS, "mpii": MPII_KEYPOINTS}

COCO_FLIP_PAIRS = COCO_KEYPOINTS.flip_pairs
MPII_FLIP_PAIRS = MPII_KEYPOINTS.flip_pairs
COCO_SIGMAS = COCO_KEYPOINTS.sigmas

__all__ = [
    "COCO_FLIP_PAIRS", "COCO_KEYPOINTS", "COCO_SIGMAS", "DEFAULT_SIGMA", "KEYPOINT_SETS", "KeypointChoice",
    "KeypointSet", "METRIC_NAMES", "MPII_FLIP_PAIRS", "MPII_KEYPOINTS", "describe_keypoints",
    "flip_indices_from_pairs", "flip_pairs_from_names", "keypoint_set_for", "list_presets", "names_have_sides",
    "resolve_coco_keypoints", "resolve_keypoint_set",
]


def keypoint_set_for(num_keypoints: int) -> KeypointSet | None:
    """The built-in set with that many keypoints (17 → COCO, 16 → MPII), else ``None``."""
    for kset in KEYPOINT_SETS.values():
        if kset.num_keypoints == num_keypoints:
            return kset
    return None


def list_presets() -> list[str]:
    """Names of the keypoint-set presets of public data sets (aliases included), for `KeypointSet.preset()`."""
    return preset_names()


def resolve_keypoint_set(keypoints) -> KeypointSet:
    """A [`KeypointSet`][hrnet_zoo.pose.keypoint_set.KeypointSet] from a set, a preset name (``"coco"``, ``"mpii"``,
    ``"wflw"`` … `list_presets()`), a dict from `KeypointSet.to_dict()`, a COCO category dict, or a list of
    keypoint names."""
    if isinstance(keypoints, KeypointSet):
        return keypoints
    if isinstance(keypoints, str):
        return KeypointSet.preset(keypoints)
    if isinstance(keypoints, Mapping):
        return KeypointSet.from_dict(keypoints) if "keypoint_names" in keypoints \
            else KeypointSet.from_coco_category(keypoints)
    if isinstance(keypoints, Sequence) and all(isinstance(n, str) for n in keypoints):
        return KeypointSet.from_names(keypoints)
    raise InvalidArgumentError(f"cannot make a keypoint set from {type(keypoints).__name__}")


@dataclass(frozen=True)
class KeypointChoice:
    """The keypoint set a COCO file's categories resolve to (`resolve_coco_keypoints()`), and why.

    ``category_ids``: every category sharing the chosen keypoint list (scored together); ``flip_source``
    and ``sigma_source`` say where the flip pairs and OKS sigmas came from; ``preset``: the preset whose
    names the category matches, or the one given; ``warnings``: one line each, for the user to see.
    """

    keypoint_set: KeypointSet
    category_ids: tuple = ()
    flip_source: str = "names"
    sigma_source: str = f"default {DEFAULT_SIGMA}"
    warnings: tuple[str, ...] = ()
    preset: str | None = None

    @property
    def category_id(self):
        """The first chosen category's id (None for a set not read from a file)."""
        return self.category_ids[0] if self.category_ids else None


def _preset_with_names(names) -> KeypointSet | None:
    lowered = tuple(n.lower() for n in names)
    for key in preset_names():
        data = preset_data(key)
        if len(data["names"]) == len(lowered) and tuple(n.lower() for n in data["names"]) == lowered:
            return _preset(key)
    return None


def resolve_coco_keypoints(categories, *, category_id=None, keypoint_set=None, flip_pairs=None, sigmas=None,
                           where: str = "") -> KeypointChoice:
    """The keypoint set of a COCO file's ``categories``: the one rule `KeypointSet.from_coco_category` and
    the data loader share.

    Categories sharing one keypoint-name list form one set (a data set of 54 species is one set);
    several different lists need ``category_id``, which selects its category's group. ``keypoint_set``
    (a preset name or a `KeypointSet`) gives names, flip pairs, skeleton, sigmas and metrics, and makes
    a category without names usable. Names equal (case aside) to a preset's get that preset's flip pairs,
    sigmas, metrics, and skeleton when the file has none. Sigmas: ``sigmas`` > the category's ``sigmas``
    (an extension some tools write) > the preset's > `DEFAULT_SIGMA`. A bad skeleton is dropped with one
    warning (``choice.warnings``), never refused. Errors are `DatasetError` prefixed with ``where``.
    """
    prefix = f"{where}: " if where else ""
    given = None if keypoint_set is None else resolve_keypoint_set(keypoint_set)
    group = category_group(categories, category_id, given is not None, prefix)
    first = group[0]
    names = tuple(first.get("keypoints") or ()) or given.keypoint_names
    if given is not None and given.num_keypoints != len(names):
        raise DatasetError(f"{prefix}category {first['id']} has {len(names)} keypoints but keypoint set "
                           f"{given.name!r} has {given.num_keypoints}")
    reference = given if given is not None else _preset_with_names(names)
    skeleton, skeleton_warning = category_skeleton(first, len(names), prefix)
    warnings_ = [skeleton_warning] if skeleton_warning else []
    if given is not None:
        names, name = given.keypoint_names, given.name
    else:
        name = str(first.get("name", "custom"))
    if reference is not None and (given is not None or not skeleton):
        skeleton = reference.skeleton or skeleton
    ref_label = None if reference is None else (
        f"keypoint set {reference.name}" if given is not None else f"preset {reference.name} (names match)")
    if flip_pairs is not None:
        pairs, flip_source = flip_pairs, "given"
    elif reference is not None:
        pairs, flip_source = reference.flip_pairs, ref_label
    else:
        pairs, flip_source = flip_pairs_from_names(names), "names"
    sigmas, sigma_source = _choose_sigmas(sigmas, first, reference, ref_label, len(names), prefix)
    try:
        kset = KeypointSet.from_names(names, name=name, flip_pairs=pairs, skeleton=skeleton, sigmas=sigmas,
                                      metrics=reference.metrics if reference else ("AP",),
                                      nme_pair=reference.nme_pair if reference else None)
    except InvalidArgumentError as e:
        raise DatasetError(f"{prefix}category {first['id']}: {e}") from None
    if not kset.flip_pairs and flip_pairs is None and names_have_sides(kset):
        warnings_.append(f"{prefix}no flip pairs found but the keypoint names contain side words: give "
                         "--flip-pairs (flip_pairs=) or --keypoint-set (keypoint_set=)")
    return KeypointChoice(kset, tuple(c["id"] for c in group), flip_source if kset.flip_pairs else "none",
                          sigma_source, tuple(warnings_), None if reference is None else reference.name)


def _choose_sigmas(sigmas, category, reference, ref_label, k: int, prefix: str):
    if sigmas is not None:
        return checked_sigmas(list(sigmas), k, "sigmas", prefix), "given"
    if category.get("sigmas") is not None:
        return checked_sigmas(category["sigmas"], k, f"category {category['id']}: 'sigmas'", prefix), \
            "the category's 'sigmas'"
    if reference is not None and (reference.name not in preset_names()
                                  or preset_data(reference.name).get("sigmas") is not None):
        return reference.sigmas, ref_label
    return (DEFAULT_SIGMA,) * k, f"default {DEFAULT_SIGMA} (the data set defines none)"


def describe_keypoints(choice) -> str:
    """The one summary line train, evaluate and predict print: set, K, flip pairs and their source,
    where the OKS sigmas came from, the metrics. ``choice``: a `KeypointChoice` or a `KeypointSet`."""
    if isinstance(choice, KeypointSet):
        choice = KeypointChoice(choice, flip_source="keypoint set" if choice.flip_pairs else "none",
                                sigma_source="keypoint set")
    kset = choice.keypoint_set
    categories = f", categories {list(choice.category_ids)}" if len(choice.category_ids) > 1 else (
        f", category {choice.category_ids[0]}" if choice.category_ids else "")
    matched = f" = preset {choice.preset}" if choice.preset and choice.preset != kset.name else ""
    flips = f"{len(kset.flip_pairs)} from {choice.flip_source}" if kset.flip_pairs else "none"
    return (f"keypoints: {kset.name!r}{matched}, {kset.num_keypoints} keypoints{categories}; flip pairs: {flips}; "
            f"OKS sigmas: {choice.sigma_source}; metrics: {', '.join(kset.metrics)}")
