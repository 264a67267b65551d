"""``FeatureInfo``: what a features-only model returns — channels, stride and source module of each map."""
from __future__ import annotations

from typing import Any, Sequence

from hrnet_zoo.errors import InvalidArgumentError


class FeatureInfo:
    """Channels (``num_chs``), reduction (stride) and module name of each returned feature map.

    Indexing and iteration give one dict per returned map (``{"num_chs", "reduction", "module"}``);
    the accessors take an index, a list of indices, or nothing for every returned map.
    """

    def __init__(self, info: Sequence[dict[str, Any]], out_indices: Sequence[int]):
        self.out_indices = check_out_indices(out_indices, len(info))
        self._info = [dict(info[i]) for i in self.out_indices]

    def get(self, key: str, idx: int | Sequence[int] | None = None):
        if idx is None:
            return [f[key] for f in self._info]
        if isinstance(idx, (list, tuple)):
            return [self._info[i][key] for i in idx]
        return self._info[idx][key]

    def channels(self, idx: int | Sequence[int] | None = None):
        """Channels of the returned maps."""
        return self.get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None):
        """Stride of the returned maps relative to the input."""
        return self.get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None):
        """Name (in ``model.named_modules()``) of the module each map comes out of."""
        return self.get("module", idx)

    def get_dicts(self) -> list[dict[str, Any]]:
        return [dict(f) for f in self._info]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return self._info[idx]

    def __len__(self) -> int:
        return len(self._info)

    def __iter__(self):
        return iter(self._info)

    def __repr__(self) -> str:
        return f"FeatureInfo({self._info})"


def check_out_indices(out_indices: Sequence[int], num_features: int) -> tuple[int, ...]:
    """``out_indices`` as a tuple of distinct indices into ``num_features`` maps (negative ones count from the end)."""
    try:
        indices = tuple(int(i) for i in out_indices)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"out_indices must be a sequence of integers, got {out_indices!r}") from None
    normalised = tuple(i % num_features if -num_features <= i < num_features else None for i in indices)
    if not indices or None in normalised or len(set(normalised)) != len(normalised):
        raise InvalidArgumentError(f"out_indices {list(indices)} must be distinct indices into the "
                                   f"{num_features} feature maps (0 … {num_features - 1})")
    return normalised
