"""Names that moved in 0.3 to one vocabulary (``num_keypoints``, ``decoder``): the old keyword
arguments still work for one minor version, with a DeprecationWarning (removed in 0.4).

Saved files are data, not code: a ``config.json`` written with ``num_joints`` is read as
``num_keypoints`` silently ([`upgrade_saved_config()`][hrnet_zoo._renamed.upgrade_saved_config]).
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, MutableMapping

from hrnet_zoo.errors import InvalidArgumentError

#: Old keyword → new keyword, for every argument renamed in 0.3.
RENAMED_KEYWORDS = {"num_joints": "num_keypoints", "method": "decoder"}


def warn_renamed(old: str, new: str, owner: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{owner}: {old!r} is deprecated and will be removed in 0.4; use {new!r}",
                  DeprecationWarning, stacklevel=stacklevel + 1)


def take_renamed(kwargs: MutableMapping[str, Any], old: str, new: str, owner: str, stacklevel: int = 3) -> None:
    """Move ``kwargs[old]`` to ``kwargs[new]`` (in place) with a DeprecationWarning; both given is an error."""
    if old not in kwargs:
        return
    value = kwargs.pop(old)
    if new in kwargs and kwargs[new] != value:
        raise InvalidArgumentError(f"{owner}: give {new!r} only ({old!r} is its deprecated name), "
                                   f"got {new}={kwargs[new]!r} and {old}={value!r}")
    warn_renamed(old, new, owner, stacklevel + 1)
    kwargs[new] = value


def renamed_value(new_value, old_value, old: str, new: str, owner: str, default=None, stacklevel: int = 3):
    """The value of a renamed parameter kept as a deprecated keyword-only one (``old_value`` None:
    not given): ``old_value`` with a warning, else ``new_value``."""
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default and new_value != old_value:
        raise InvalidArgumentError(f"{owner}: give {new!r} only ({old!r} is its deprecated name), "
                                   f"got {new}={new_value!r} and {old}={old_value!r}")
    warn_renamed(old, new, owner, stacklevel + 1)
    return old_value


def accepts_num_joints(init: Callable) -> Callable:
    """Wrap a pose model's ``__init__(…, num_keypoints, …)`` so that ``num_joints=`` still works (with a
    DeprecationWarning) and the config written by ``save_pretrained`` names ``num_keypoints`` only.

    ``inspect.signature`` and ``typing.get_type_hints`` follow ``__wrapped__``: the config rules and
    huggingface_hub's mixin see the new signature alone.
    """
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        owner = type(self).__name__
        take_renamed(kwargs, "num_joints", "num_keypoints", owner)
        init(self, *args, **kwargs)
        config = getattr(self, "_hub_mixin_config", None)
        if isinstance(config, dict) and "num_joints" in config:  # the mixin recorded the old keyword
            config.pop("num_joints")
            config["num_keypoints"] = self.num_keypoints
    return __init__


def upgrade_saved_config(config: dict) -> dict:
    """A ``config.json`` of 0.2 (``num_joints``) in 0.3's names (``num_keypoints``); silent, it is file data."""
    if isinstance(config, dict) and "num_joints" in config and "num_keypoints" not in config:
        config = {("num_keypoints" if k == "num_joints" else k): v for k, v in config.items()}
    return config
