"""Left/right structure of keypoint names: flip pairs from side words, and flip permutations from pairs."""
from __future__ import annotations

import re
from typing import Sequence

from hrnet_zoo.errors import InvalidArgumentError

_SIDE_WORDS = {"l": "left", "left": "left", "r": "right", "right": "right"}
# Words of a name: capitalised or lower-case runs (camelCase splits), upper-case runs, digit runs, and the
# separators between them (kept, so that "the rest of the name" is compared character for character).
_NAME_TOKENS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^A-Za-z\d]+")


def flip_indices_from_pairs(flip_pairs, num_keypoints: int) -> list[int]:
    """Left/right pairs → a permutation of ``range(num_keypoints)``; checks the pairs are valid."""
    indices = list(range(num_keypoints))
    seen = set()
    for pair in flip_pairs:
        if len(pair) != 2:
            raise InvalidArgumentError(f"flip pairs must be (left, right) index pairs, got {pair!r}")
        a, b = (int(i) for i in pair)
        if not (0 <= a < num_keypoints and 0 <= b < num_keypoints):
            raise InvalidArgumentError(f"flip pair {pair!r} is out of range for {num_keypoints} keypoints")
        if a in seen or b in seen or a == b:
            raise InvalidArgumentError(f"keypoint in flip pair {pair!r} appears in more than one pair")
        seen.update((a, b))
        indices[a], indices[b] = b, a
    return indices


def _side_variants(name: str):
    """``(side, rest)`` for each side word of ``name``: ``rest`` is the name with that word replaced by a
    marker, lower-cased (so ``L_Eye`` and ``r_eye`` share a rest), and the word's form (l/r or left/right)."""
    tokens = _NAME_TOKENS.findall(name)
    for i, token in enumerate(tokens):
        side = _SIDE_WORDS.get(token.lower())
        if side is not None:
            form = "short" if len(token) == 1 else "long"
            rest = "".join(tokens[:i]).lower() + "\0" + form + "\0" + "".join(tokens[i + 1:]).lower()
            yield side, rest


def flip_pairs_from_names(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) index pairs of names that differ only by a side word, wherever it stands.

    A name is split into words at ``_``, ``-``, spaces, digits and camelCase; ``l``/``left`` and
    ``r``/``right`` (any case) are side words. Two names pair when one has a left word where the other
    has a right word of the same form and the rest is equal (case aside): ``left_eye``/``right_eye``,
    ``L_Eye``/``R_Eye``, ``LeftEye``/``RightEye``, ``Left Eye``/``Right Eye``, ``eyeL``/``eyeR``,
    ``forelegL1``/``forelegR1``, ``hindleg_l``/``hindleg_r``. ``leftover``, ``near``/``off`` are not
    sides; a rest shared by more than one left or right name pairs nothing (ambiguous).
    """
    by_rest: dict[str, dict[str, list[int]]] = {}
    for i, name in enumerate(names):
        for side, rest in _side_variants(str(name)):
            by_rest.setdefault(rest, {"left": [], "right": []})[side].append(i)
    pairs, used = [], set()
    for sides in by_rest.values():
        lefts, rights = sides["left"], sides["right"]
        if len(lefts) == 1 and len(rights) == 1 and lefts[0] != rights[0] and not {lefts[0], rights[0]} & used:
            pairs.append((lefts[0], rights[0]))
            used.update((lefts[0], rights[0]))
    return tuple(sorted(pairs))


def names_have_sides(keypoint_set) -> bool:
    """Whether any keypoint name (of a `KeypointSet` or a list of names) contains a left/right word."""
    names = getattr(keypoint_set, "keypoint_names", keypoint_set)
    return any(next(_side_variants(str(n)), None) is not None for n in names)
