"""The object `hrnet_zoo.optimize()` returns, and the errors of `hrnet_zoo.runtime`."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from hrnet_zoo.errors import (BackendUnavailableError, InvalidArgumentError,  # noqa: F401  (re-exported)
                              UnsupportedPrecisionError)

PIP_EXTRAS = {"openvino": 'pip install "hrnet-zoo[openvino]"', "nncf": 'pip install "hrnet-zoo[openvino]"',
              "onnxruntime": 'pip install "hrnet-zoo[onnxruntime]"', "onnx": 'pip install "hrnet-zoo[onnxruntime]"'}




def require(module: str, backend: str):
    """Import ``module`` or raise [`BackendUnavailableError`][hrnet_zoo.errors.BackendUnavailableError] with the pip command in one line."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendUnavailableError(
            f"the {backend} backend needs the {module} package, which is not installed: {PIP_EXTRAS[module]}") from None


def as_tensor(x) -> torch.Tensor:
    """An N×C×H×W float32 tensor from a tensor or a numpy array."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise InvalidArgumentError(f"expected an N×C×H×W tensor or array, got {type(x).__name__}")
    if x.dim() != 4:
        raise InvalidArgumentError(f"expected an N×C×H×W input, got shape {tuple(x.shape)}")
    return x if x.dtype == torch.float32 else x.float()


class Runner:
    """A model ready for fast inference: ``runner(x)`` with ``x`` N×C×H×W (tensor or array, float).

    Returns what the model returns, as float32 tensors (one tensor, or a list for multi-output models).
    ``input_size`` ``(H, W)`` and ``batch_size`` are fixed where the runner was compiled for them
    (``batch_size`` None: any batch); another shape is refused with [`InvalidArgumentError`][hrnet_zoo.errors.InvalidArgumentError].
    ``pretrained_cfg`` is the model's, so `hrnet_zoo.predict_keypoints()` takes the runner in
    place of the model.

    ``keypoint_shift``, for an int8 runner of a heatmap model: how far its decoded keypoints lie from
    fp32's on the calibration inputs, as ``mean_px``, ``p95_px`` and ``max_px`` in heatmap pixels
    with the ``keypoints`` and ``inputs`` counted; None otherwise. It is an in-sample figure (the crops
    the scales were fitted to), ``enough_inputs`` False (and a warning) below
    ``quantize.MIN_CALIBRATION_INPUTS`` crops; ``keypoint_shift_samples`` is the number of crops.
    """

    def __init__(self, run: Callable[[torch.Tensor], list[torch.Tensor]], *, pretrained_cfg, backend: str,
                 precision: str, device="cpu", input_size=None, batch_size=None, in_chans: int = 3,
                 single_output: bool = True, details: str = ""):
        self._run = run
        self.pretrained_cfg = pretrained_cfg
        self.backend = backend
        self.precision = precision
        self.device = torch.device(device)
        self.input_size = tuple(input_size) if input_size is not None else None
        self.batch_size = batch_size
        self.in_chans = in_chans
        self.single_output = single_output
        self.details = details
        self.choice: dict | None = None   # what `auto` measured, when it chose this runner
        self.keypoint_shift: dict | None = None  # set by the int8 build (runtime.quantize.keypoint_shift)
        self.keypoint_shift_samples: int | None = None  # calibration crops behind keypoint_shift

    def check_shape(self, shape) -> None:
        n, c, h, w = shape
        fixed = f"{self.describe()} was compiled for N×{self.in_chans}×{self.input_size[0]}×{self.input_size[1]}" \
            if self.input_size else ""
        if c != self.in_chans:
            raise InvalidArgumentError(f"expected {self.in_chans} input channels, got shape {tuple(shape)}")
        if self.input_size is not None and (h, w) != self.input_size:
            raise InvalidArgumentError(f"input {h}×{w} (H×W) differs from the fixed shape: {fixed}; "
                                       f"call hrnet_zoo.optimize(model, input_size=({h}, {w})) for that size")
        if self.batch_size is not None and n != self.batch_size:
            raise InvalidArgumentError(f"batch {n} differs from the fixed batch {self.batch_size} of {self.describe()}; "
                                       f"call hrnet_zoo.optimize(model, batch_size=None) for any batch")

    def __call__(self, x):
        x = as_tensor(x)
        self.check_shape(x.shape)
        outputs = self._run(x.to(self.device))
        return outputs[0] if self.single_output else list(outputs)

    def describe(self) -> str:
        shape = "×".join(str(v) for v in ("N" if self.batch_size is None else self.batch_size, self.in_chans,
                                           *(self.input_size or ("H", "W"))))
        extra = f", {self.details}" if self.details else ""
        return f"{self.backend} {self.precision} on {self.device} ({shape}{extra})"

    def __repr__(self) -> str:
        return f"Runner({self.describe()})"
