"""``HeatmapCodec``: keypoints in input (crop) pixels ↔ heatmaps, one object per configuration."""
from __future__ import annotations

import math

import torch

from hrnet_zoo.codecs.decode import DECODE_METHODS, decode_heatmaps
from hrnet_zoo.codecs.gaussian import TARGET_ENCODERS
from hrnet_zoo._renamed import renamed_value, warn_renamed
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.pretrained_cfg import (
    DEFAULT_DECODER,
    DEFAULT_HEATMAP_SIGMA,
    DEFAULT_INPUT_SIZE,
    PretrainedCfg,
    blur_kernel_for,
    check_size,
)

# The target each decoder was designed for: official Gaussians for argmax/quarter, float-centred
# Gaussians for DARK, UDP Gaussians (and UDP's (size − 1) stride) for UDP.
_DEFAULT_TARGET = {"argmax": "gaussian", "quarter": "gaussian", "dark": "unbiased", "udp": "udp"}


class HeatmapCodec:
    """Encode keypoints into Gaussian heatmaps and decode heatmaps back to input pixels.

    Made for a model with `for_model()` (or for a cfg with `for_cfg()`), which reads sizes, σ and decoder
    from its ``pretrained_cfg``. The bare defaults are `PretrainedCfg`'s (``DEFAULT_INPUT_SIZE``,
    ``DEFAULT_DECODER``).

    Args:
        input_size: model input ``(H, W)``, e.g. (256, 192).
        heatmap_size: heatmap ``(H, W)``, e.g. (64, 48).
        sigma: Gaussian σ in heatmap pixels (2 for 64×48, 3 for 96×72 in the official configs).
        decoder: one of ``argmax``, ``quarter``, ``dark``, ``udp``; by default
            ``hrnet_zoo.pretrained_cfg.DEFAULT_DECODER`` (``dark``). ``method=`` is its deprecated
            name (0.2; removed in 0.4).
        target: ``gaussian`` (official), ``unbiased`` (DARK) or ``udp``; by default the one that
            matches ``decoder``.
        blur_kernel_size: DARK/UDP modulation kernel; by default
            ``hrnet_zoo.pretrained_cfg.blur_kernel_for(sigma)`` (σ=2 → 11, σ=3 → 17, the DARK configs').
    """

    def __init__(self, input_size=DEFAULT_INPUT_SIZE, heatmap_size=(64, 48), sigma: float = DEFAULT_HEATMAP_SIGMA,
                 decoder: str = DEFAULT_DECODER, target: str | None = None, blur_kernel_size: int | None = None,
                 *, method: str | None = None):
        decoder = renamed_value(decoder, method, "method", "decoder", "HeatmapCodec", DEFAULT_DECODER)
        if decoder not in DECODE_METHODS:
            raise InvalidArgumentError(f"unknown decode method {decoder!r}; choose one of {', '.join(DECODE_METHODS)}")
        target = target or _DEFAULT_TARGET[decoder]
        if target not in TARGET_ENCODERS:
            raise InvalidArgumentError(f"unknown target {target!r}; choose one of {', '.join(TARGET_ENCODERS)}")
        self.input_size = check_size(input_size, "input_size")
        self.heatmap_size = check_size(heatmap_size, "heatmap_size")
        self.sigma = float(sigma)
        self.decoder = decoder
        self.target = target
        self.blur_kernel_size = blur_kernel_size or blur_kernel_for(self.sigma)

    @classmethod
    def for_model(cls, model, *, input_size=None, decoder: str | None = None, **kwargs) -> "HeatmapCodec":
        """A codec for ``model`` (or a runner with a ``pretrained_cfg``): `for_cfg()` of its cfg."""
        if model.pretrained_cfg.output_stride is None:
            raise InvalidArgumentError(f"{type(model).__name__} does not output heatmaps (its pretrained_cfg "
                                       "has no output_stride)")
        return cls.for_cfg(model.pretrained_cfg, input_size=input_size, decoder=decoder, **kwargs)

    @classmethod
    def for_cfg(cls, cfg: PretrainedCfg, *, input_size=None, decoder: str | None = None,
                **kwargs) -> "HeatmapCodec":
        """A codec for a pose model's ``cfg``: input size, heatmap size (input / ``output_stride``), σ and
        decoder from it; explicit arguments win (``method=``: ``decoder``'s deprecated name)."""
        decoder = renamed_value(decoder, kwargs.pop("method", None), "method", "decoder", "HeatmapCodec.for_cfg")
        if cfg.output_stride is None:
            raise InvalidArgumentError("this pretrained_cfg has no output_stride: not a heatmap model's")
        size = cfg.input_size if input_size is None else cfg.check_input_size(input_size, stacklevel=4)
        kwargs.setdefault("heatmap_size", tuple(math.ceil(v / cfg.output_stride) for v in size))
        kwargs.setdefault("sigma", cfg.heatmap_sigma or DEFAULT_HEATMAP_SIGMA)
        return cls(input_size=size, decoder=decoder or cfg.decoder or DEFAULT_DECODER, **kwargs)

    def __repr__(self) -> str:
        return (f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma}, decoder={self.decoder!r}, target={self.target!r})")

    @property
    def method(self) -> str:
        """Deprecated (removed in 0.4): ``decoder``."""
        warn_renamed("method", "decoder", "HeatmapCodec", stacklevel=2)
        return self.decoder

    @property
    def scale(self) -> torch.Tensor:
        """Input pixels per heatmap pixel, in (x, y) order; UDP targets measure sizes as ``size − 1``.

        The targets fix the geometry, so decoding inverts encoding whichever decoder refines the peak.
        """
        size_in = torch.tensor(self.input_size[::-1], dtype=torch.float64)
        size_hm = torch.tensor(self.heatmap_size[::-1], dtype=torch.float64)
        if self.target == "udp":
            return (size_in - 1) / (size_hm - 1)
        return size_in / size_hm

    def encode(self, keypoints, visibility=None):
        """N×K×2 keypoints in input pixels (+ N×K visibility, 1 = labelled) → (N×K×H×W targets, N×K weights).

        A single person (K×2, K) gives K×H×W and K.
        """
        keypoints = torch.as_tensor(keypoints)
        single = keypoints.ndim == 2
        if single:
            keypoints = keypoints[None]
            visibility = None if visibility is None else torch.as_tensor(visibility)[None]
        targets, weights = TARGET_ENCODERS[self.target](
            keypoints, visibility, self.input_size, self.heatmap_size, self.sigma)
        return (targets[0], weights[0]) if single else (targets, weights)

    def decode(self, heatmaps):
        """N×K×H×W heatmaps → (N×K×2 keypoints in input pixels, N×K scores)."""
        coords, scores = decode_heatmaps(heatmaps, self.decoder, self.blur_kernel_size)
        scale = self.scale.to(coords.dtype) if isinstance(coords, torch.Tensor) else self.scale.numpy()
        if isinstance(coords, torch.Tensor):
            scale = scale.to(coords.device)
        return coords * scale, scores
