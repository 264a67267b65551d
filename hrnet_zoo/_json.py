"""Strict JSON for the records the package logs (training metrics, ``best.json``, per-frame poses):
numpy and torch values become JSON types, and a NaN or infinity becomes ``null``, so every file is JSON
that any reader accepts. Results files are different: a NaN there is an error, not a null
(`hrnet_zoo.evaluation.files.write_json`)."""
from __future__ import annotations

import json
import math
from typing import Mapping


def plain(value):
    """numpy/torch values and arrays → JSON types; NaN and infinities → None."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars, tensors
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def strict_dumps(value, **kwargs) -> str:
    """``json.dumps`` of `plain(value)`, refusing any NaN that could remain (``allow_nan=False``)."""
    return json.dumps(plain(value), allow_nan=False, **kwargs)
