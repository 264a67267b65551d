"""Check the constructor arguments in a saved model's ``config.json`` before anything is built from them.

``config.json`` comes from a folder or a Hub repo, i.e. from anyone: ``num_joints=10**8`` would allocate
gigabytes before failing, and a string or a float in an integer field fails deep inside a constructor
with an unrelated message. Every model class declares a rule (type and a sane range) for each of its
constructor arguments in ``config_rules``, next to the constructor; this module holds the rule makers and
the check. A config naming another library's architecture (timm's ``config.json``) is not checked.
"""
from __future__ import annotations

from typing import Any, Callable

from hrnet_zoo.weights.hub import PretrainedWeightsError

#: A rule: the value → what is wrong with it (``"must be …"``), or None when it is fine.
Rule = Callable[[Any], "str | None"]


class InvalidConfigError(PretrainedWeightsError, ValueError):
    """A ``config.json`` argument of the wrong type or out of range (nothing was built)."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a count


def integer(low: int, high: int) -> Rule:
    return lambda v: None if _is_int(v) and low <= v <= high else f"must be an integer from {low} to {high}"


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


def integer_list(item: Rule, max_length: int) -> Rule:
    def check(value) -> str | None:
        if not isinstance(value, list) or len(value) > max_length or any(item(v) for v in value):
            return f"must be a list of at most {max_length} items, each of which {item(None)}"
        return None
    return check


#: Rules every family shares.
IN_CHANS = integer(1, 64)
NUM_JOINTS = integer(1, 1000)
NUM_CLASSES = integer(1, 100_000)
FINAL_CONV_KERNEL = one_of(1, 3)


def validate_model_config(config: dict, rules: dict[str, Rule] | None, source: str) -> dict:
    """``config`` itself when every argument is of the right type and range for ``rules`` (the
    ``config_rules`` of the architecture it names; None for another library's architecture).

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
            raise InvalidConfigError(f"config.json of {source}: {config['architecture']} takes no argument {name!r} "
                                     f"(it takes {', '.join(rules)})")
        problem = rules[name](value)
        if problem:
            raise InvalidConfigError(f"config.json of {source}: {name} {problem}, got {_short(value)}")
    return config


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
