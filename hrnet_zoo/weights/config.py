"""Check the constructor arguments in a saved model's ``config.json`` before anything is built from them.

``config.json`` comes from a folder or a Hub repo, i.e. from anyone: ``num_keypoints=10**8`` would allocate
gigabytes before failing, and a string or a float in an integer field fails deep inside a constructor
with an unrelated message. The rule (type and sane range) for each constructor argument is derived from
the constructor's signature — its annotations (``int``, ``float``, ``bool``, ``str``, ``Literal`` choices,
tuples and sequences, ``Optional``) — by [`rules_from_signature()`][hrnet_zoo.weights.config.rules_from_signature]; a model class states
[`Bounds`][hrnet_zoo.weights.config.Bounds] only where the defaults below are not right (``config_bounds``).
A config naming another library's architecture (timm's ``config.json``) is not checked.
"""
from __future__ import annotations

import collections.abc
import inspect
import math
import types
import typing
from typing import Any, Callable, Literal, Mapping, NamedTuple, Union

from hrnet_zoo.errors import (ArgumentTypeError, InvalidConfigError,  # noqa: F401  (re-exported)
                              PretrainedWeightsError, RegistryError)

#: A rule: the value → what is wrong with it (``"must be …"``), or None when it is fine.
Rule = Callable[[Any], "str | None"]



class Bounds(NamedTuple):
    """The range of a number (or of each item of a sequence) and the most items a sequence may have."""

    low: float | None = None
    high: float | None = None
    max_length: int | None = None


#: Ranges that hold for these argument names in every family (a family may narrow them).
COMMON_BOUNDS: dict[str, Bounds] = {
    "in_chans": Bounds(1, 64),
    "num_keypoints": Bounds(1, 1000),
    "num_classes": Bounds(1, 100_000),
}
#: Without stated bounds: an integer is a width or a count (0 … 1024, a 1024×1024 3×3 conv is 9.4M
#: parameters), a float is finite and of moderate size, a string short, a sequence at most 16 items.
DEFAULT_INT = Bounds(0, 1024)
DEFAULT_FLOAT = Bounds(-1e6, 1e6)
DEFAULT_MAX_LENGTH = 16
MAX_STRING_LENGTH = 256


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a count


def integer(low: int, high: int) -> Rule:
    return lambda v: None if _is_int(v) and low <= v <= high else f"must be an integer from {low} to {high}"


def real(low: float, high: float) -> Rule:
    def check(v) -> str | None:
        number = (_is_int(v) or isinstance(v, float)) and math.isfinite(v)
        return None if number and low <= v <= high else f"must be a number from {low:g} to {high:g}"
    return check


def text(max_length: int = MAX_STRING_LENGTH) -> Rule:
    return lambda v: None if isinstance(v, str) and len(v) <= max_length else \
        f"must be a string of at most {max_length} characters"


def one_of(*options) -> Rule:
    shown = ", ".join(repr(o) for o in options)
    # `type(v) is type(o)`: 1.0 == 1 and True == 1, but neither is a valid kernel size
    return lambda v: None if any(type(v) is type(o) and v == o for o in options) else f"must be one of {shown}"


def boolean(value) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def optional(rule: Rule) -> Rule:
    def check(value) -> str | None:
        problem = None if value is None else rule(value)
        return problem and f"{problem}, or null"
    return check


def sequence_of(item: Rule, max_length: int, length: int | None = None) -> Rule:
    """A JSON list (a tuple or list in Python) of at most ``max_length`` items (exactly ``length``), each passing ``item``."""
    size = f"of {length} items" if length is not None else f"of at most {max_length} items"

    def check(value) -> str | None:
        if not isinstance(value, (list, tuple)) or (len(value) != length if length is not None
                                                    else len(value) > max_length) or any(item(v) for v in value):
            return f"must be a list {size}, each of which {item(None)}"
        return None
    return check


def integer_list(item: Rule, max_length: int) -> Rule:
    return sequence_of(item, max_length)


# --- rules from a constructor's signature ---------------------------------------------------------------

def rules_from_signature(fn: Callable, bounds: Mapping[str, Bounds | tuple] | None = None,
                         owner: str = "") -> dict[str, Rule]:
    """A rule for every parameter of ``fn`` (a constructor; ``self`` and ``*args``/``**kwargs`` skipped),
    from its annotation and ``bounds`` (name → `Bounds` or a ``(low, high)`` tuple), else `COMMON_BOUNDS`
    or the defaults.

    Raises:
        RegistryError: for a parameter whose annotation says nothing a JSON value can be checked
            against (none, ``Any``, a class): the family module must annotate it.
    """
    hints = typing.get_type_hints(fn)
    rules = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        limit = Bounds(*bounds[name]) if bounds and name in bounds else COMMON_BOUNDS.get(name)
        try:
            rules[name] = rule_for(hints.get(name, inspect.Parameter.empty), limit)
        except TypeError as e:
            raise RegistryError(f"{owner or fn.__qualname__}: argument {name!r} cannot be checked in a "
                                f"config.json ({e}); annotate it with int, float, bool, str, a Literal, a tuple "
                                "or an Optional of those") from None
    return rules


def rule_for(annotation, limit: Bounds | None = None) -> Rule:
    """The rule of one annotation; ``limit`` bounds numbers (the items, for a sequence) and sequence length."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = rule_for(rest[0] if len(rest) == 1 else _union_error(annotation), limit)
        return optional(inner) if len(rest) < len(args) else inner
    if origin is Literal:
        return one_of(*args)
    if origin in (tuple, list, collections.abc.Sequence) or annotation in (tuple, list):
        return _sequence_rule(args, limit)
    if annotation is bool:
        return boolean
    if annotation is int:
        low, high, _ = limit or DEFAULT_INT
        return integer(int(DEFAULT_INT.low if low is None else low), int(DEFAULT_INT.high if high is None else high))
    if annotation is float:
        low, high, _ = limit or DEFAULT_FLOAT
        return real(DEFAULT_FLOAT.low if low is None else low, DEFAULT_FLOAT.high if high is None else high)
    if annotation is str:
        return text()
    raise ArgumentTypeError(f"unsupported annotation {annotation!r}")


def _union_error(annotation):
    raise ArgumentTypeError(f"a union of several types ({annotation!r})")


def _sequence_rule(args: tuple, limit: Bounds | None) -> Rule:
    max_length = (limit.max_length if limit and limit.max_length else None) or DEFAULT_MAX_LENGTH
    if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:  # tuple[int, ...], Sequence[int]
        return sequence_of(rule_for(args[0], limit), max_length)
    if not args:
        raise ArgumentTypeError("a tuple or sequence without its item type")
    if len(set(args)) != 1:
        raise ArgumentTypeError(f"a tuple of mixed item types {args!r}")
    return sequence_of(rule_for(args[0], limit), len(args), length=len(args))


def validate_model_config(config: dict, rules: dict[str, Rule] | None, source: str) -> dict:
    """``config`` itself when every argument is of the right type and range for ``rules`` (the
    rules of the architecture it names; None for another library's architecture).

    Raises:
        InvalidConfigError: naming ``source``, the argument, the rule and the value found (one line).
    """
    if not isinstance(config, dict):
        raise InvalidConfigError(f"config.json of {source} must hold a JSON object, not {type(config).__name__}")
    if rules is None:
        return config  # another library's config (timm's): its weights load by key layout, nothing is built from it
    for name, value in config.items():
        if name in ("architecture", "pretrained_cfg"):  # not constructor arguments (PretrainedCfg checks its own)
            continue
        if name not in rules:
            raise InvalidConfigError(f"config.json of {source}: {config.get('architecture')} takes no argument "
                                     f"{name!r} (it takes {', '.join(rules)})")
        problem = rules[name](value)
        if problem:
            raise InvalidConfigError(f"config.json of {source}: {name} {problem}, got {_short(value)}")
    return config


def _short(value) -> str:
    text_ = repr(value)
    return text_ if len(text_) <= 60 else text_[:57] + "..."


# The rules every family shared when they were written by hand (kept for code that imports them).
IN_CHANS = integer(1, 64)
NUM_KEYPOINTS = integer(1, 1000)
NUM_JOINTS = NUM_KEYPOINTS  # 0.2's name
NUM_CLASSES = integer(1, 100_000)
FINAL_CONV_KERNEL = one_of(1, 3)
