"""Check the constructor arguments in a saved model's ``config.json`` before anything is built from them.

``config.json`` comes from a folder or a Hub repo, i.e. from anyone: ``num_joints=10**8`` would allocate
gigabytes before failing, and a string or a float in an integer field fails deep inside a constructor
with an unrelated message. Every argument of every hrnet_zoo architecture has a rule here (type and a
sane range); a config naming another library's architecture (timm's ``config.json``) is not checked.
"""
from __future__ import annotations

from typing import Any, Callable

from hrnet_zoo.backbones.hrnet import FUSE_MODES, HRNET_CONFIGS
from hrnet_zoo.backbones.resnet import RESNET_CONFIGS
from hrnet_zoo.heads.deconv import DECONV_PADDING
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


_WIDTH = one_of(*HRNET_CONFIGS)
_IN_CHANS = integer(1, 64)
_NUM_JOINTS = integer(1, 1000)
_NUM_CLASSES = integer(1, 100_000)
_FINAL_CONV_KERNEL = one_of(1, 3)
_RESNET_DEPTH = one_of(*RESNET_CONFIGS)
_DECONV_FILTERS = integer_list(integer(1, 1024), 5)
_DECONV_KERNELS = integer_list(one_of(*sorted(DECONV_PADDING)), 5)

#: architecture (``config.json``'s ``architecture``, a ZooModel class name) → its constructor's arguments.
ARCHITECTURE_ARGUMENTS: dict[str, dict[str, Rule]] = {
    "HRNetPose": {"width": _WIDTH, "num_joints": _NUM_JOINTS, "in_chans": _IN_CHANS,
                  "final_conv_kernel": _FINAL_CONV_KERNEL},
    "HRNetV2": {"width": _WIDTH, "num_classes": optional(_NUM_CLASSES), "in_chans": _IN_CHANS,
                "fuse_mode": one_of(*FUSE_MODES), "align_corners": boolean, "final_conv_kernel": _FINAL_CONV_KERNEL},
    "HRNetV2p": {"width": _WIDTH, "in_chans": _IN_CHANS, "out_channels": integer(1, 1024), "num_outs": integer(1, 8)},
    "HRNetClassifier": {"width": _WIDTH, "num_classes": _NUM_CLASSES, "in_chans": _IN_CHANS,
                        "head_conv_bias": boolean},
    "SimpleBaseline": {"depth": _RESNET_DEPTH, "num_joints": _NUM_JOINTS, "in_chans": _IN_CHANS,
                       "num_deconv_filters": _DECONV_FILTERS, "num_deconv_kernels": _DECONV_KERNELS,
                       "final_conv_kernel": _FINAL_CONV_KERNEL, "deconv_with_bias": boolean},
    "SimpleBaselineMSDH": {"depth": _RESNET_DEPTH, "num_joints": _NUM_JOINTS, "in_chans": _IN_CHANS,
                           "num_resolutions": integer(1, 6), "num_deconv_filters": _DECONV_FILTERS,
                           "num_deconv_kernels": _DECONV_KERNELS,
                           "upsample_mode": one_of("nearest", "bilinear", "bicubic", "area", "nearest-exact")},
    "StackedHourglass": {"num_stacks": integer(1, 16), "num_joints": _NUM_JOINTS, "num_features": integer(1, 1024),
                         "depth": integer(1, 8), "in_chans": _IN_CHANS},
}


def validate_model_config(config: dict, source: str) -> dict:
    """``config`` itself when every argument of the architecture it names is of the right type and range.

    Raises:
        InvalidConfigError: naming ``source``, the argument, the rule and the value found (one line).
    """
    if not isinstance(config, dict):
        raise InvalidConfigError(f"config.json of {source} must hold a JSON object, not {type(config).__name__}")
    rules = ARCHITECTURE_ARGUMENTS.get(config.get("architecture"))
    if rules is None:
        return config  # another library's config (timm's): its weights load by key layout, nothing is built from it
    for name, value in config.items():
        if name == "architecture":
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
