"""COCO categories as keypoint sets are read from them: grouping by keypoint list, a lenient skeleton,
checked sigmas. `hrnet_zoo.pose.keypoint_set.resolve_coco_keypoints()` combines them; nothing here knows presets."""
from __future__ import annotations

import math
from typing import Mapping

from hrnet_zoo.errors import DatasetError


def describe_category(category) -> str:
    """``id 3 'dog' (17 keypoint names)``: a category as error messages list it."""
    names = category.get("keypoints") or ()
    return f"id {category.get('id')} {category.get('name')!r} ({len(names) or 'no'} keypoint names)"


def category_group(categories, category_id, named_optional: bool, prefix: str) -> list:
    """The categories to use: all those sharing the chosen keypoint-name list, or the one ``category_id``
    names (see `hrnet_zoo.pose.keypoint_set.resolve_coco_keypoints()`); ``named_optional``: a keypoint set is
    given, so a category without names will do."""
    if not isinstance(categories, list) or not all(isinstance(c, Mapping) for c in categories):
        raise DatasetError(f"{prefix}'categories' must be a list of JSON objects")
    for c in categories:
        if "id" not in c:
            raise DatasetError(f"{prefix}category {c.get('name')!r} has no 'id'")
        names = c.get("keypoints")
        if names and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise DatasetError(f"{prefix}category {c['id']}: 'keypoints' must be a list of keypoint names")
    groups: dict[tuple, list] = {}
    for c in categories:
        if c.get("keypoints"):
            groups.setdefault(tuple(c["keypoints"]), []).append(c)
    if category_id is not None:
        chosen = next((c for c in categories if c["id"] == category_id or str(c["id"]) == str(category_id)), None)
        if chosen is None:
            raise DatasetError(f"{prefix}no category with id {category_id}; the file has "
                               f"{', '.join(map(describe_category, categories)) or 'none'}")
        if chosen.get("keypoints"):
            return groups[tuple(chosen["keypoints"])]
        if named_optional:
            return [chosen]
        raise DatasetError(f"{prefix}category {describe_category(chosen)} has no 'keypoints' list; give its "
                           "layout with keypoint_set= (CLI: --keypoint-set NAME)")
    if len(groups) > 1:
        listing = "; ".join(", ".join(map(describe_category, g)) for g in groups.values())
        raise DatasetError(f"{prefix}the categories have {len(groups)} different keypoint lists ({listing}); "
                           "choose one with category_id= (CLI: --category-id ID)")
    if groups:
        return next(iter(groups.values()))
    if named_optional and len(categories) == 1:
        return list(categories)
    if named_optional and categories:
        raise DatasetError(f"{prefix}no category has keypoint names and there are several "
                           f"({', '.join(map(describe_category, categories))}); choose one with category_id= "
                           "(CLI: --category-id ID)")
    raise DatasetError(f"{prefix}no category with a 'keypoints' list (names of the keypoints); for a file without "
                       "names give the layout with keypoint_set= (CLI: --keypoint-set NAME)")


def category_skeleton(category, k: int, prefix: str):
    """``(links, warning)``: the category's skeleton as 0-based links in range, and one line about any
    dropped. A skeleton only draws, so nothing here refuses the file: 0-based files are detected by a 0
    index, links out of range or not index pairs are dropped."""
    raw = category.get("skeleton") or []
    raw = raw if isinstance(raw, list) else [raw]
    pairs = [link for link in raw if isinstance(link, (list, tuple)) and len(link) == 2
             and all(isinstance(i, (int, float)) and not isinstance(i, bool) and float(i).is_integer() for i in link)]
    offset = 0 if any(0 in link for link in pairs) else 1
    links = [(int(a) - offset, int(b) - offset) for a, b in pairs]
    kept = tuple(link for link in links if all(0 <= i < k for i in link))
    dropped = len(raw) - len(kept)
    if not dropped:
        return kept, None
    bad = [link for link in raw if link not in pairs] + [p for p, link in zip(pairs, links) if link not in kept]
    return kept, (f"{prefix}category {category.get('id')}: dropped {dropped} skeleton link(s) out of range for {k} "
                  f"keypoints or not index pairs (e.g. {bad[0]!r}); the skeleton is only used for drawing")


def checked_sigmas(values, k: int, what: str, prefix: str) -> tuple[float, ...]:
    """``values`` as K positive finite floats, or a `DatasetError` naming ``what``."""
    ok = isinstance(values, (list, tuple)) and len(values) == k and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in values)
    if not ok:
        raise DatasetError(f"{prefix}{what} must be {k} positive numbers (one OKS sigma per keypoint), got {values!r}")
    return tuple(float(v) for v in values)
