"""``HeatmapCodec``: keypoints in input (crop) pixels ↔ heatmaps, one object per configuration."""
from __future__ import annotations

import torch

from hrnet_zoo.codecs.decode import DECODE_METHODS, decode_heatmaps
from hrnet_zoo.codecs.gaussian import TARGET_ENCODERS

# The target each decoder was designed for: official Gaussians for argmax/quarter, float-centred
# Gaussians for DARK, UDP Gaussians (and UDP's (size − 1) stride) for UDP.
_DEFAULT_TARGET = {"argmax": "gaussian", "quarter": "gaussian", "dark": "unbiased", "udp": "udp"}


class HeatmapCodec:
    """Encode keypoints into Gaussian heatmaps and decode heatmaps back to input pixels.

    Args:
        input_size: model input (W, H), e.g. (192, 256).
        heatmap_size: heatmap (W, H), e.g. (48, 64).
        sigma: Gaussian σ in heatmap pixels (2 for 64×48, 3 for 96×72 in the official configs).
        method: decoder, one of ``argmax``, ``quarter``, ``dark``, ``udp``.
        target: ``gaussian`` (official), ``unbiased`` (DARK) or ``udp``; by default the one that
            matches ``method``.
        blur_kernel_size: DARK/UDP modulation kernel; by default 11 for σ ≤ 2 and 17 above, the pairing
            of the DARK configs (σ=2 → 11, σ=3 → 17).
    """

    def __init__(self, input_size=(192, 256), heatmap_size=(48, 64), sigma: float = 2.0,
                 method: str = "quarter", target: str | None = None, blur_kernel_size: int | None = None):
        if method not in DECODE_METHODS:
            raise ValueError(f"unknown decode method {method!r}; choose one of {', '.join(DECODE_METHODS)}")
        target = target or _DEFAULT_TARGET[method]
        if target not in TARGET_ENCODERS:
            raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGET_ENCODERS)}")
        self.input_size = tuple(int(v) for v in input_size)
        self.heatmap_size = tuple(int(v) for v in heatmap_size)
        self.sigma = float(sigma)
        self.method = method
        self.target = target
        self.blur_kernel_size = blur_kernel_size or (11 if sigma <= 2 else 17)

    def __repr__(self) -> str:
        return (f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma}, method={self.method!r}, target={self.target!r})")

    @property
    def scale(self) -> torch.Tensor:
        """Input pixels per heatmap pixel (x, y); UDP targets measure sizes as ``size − 1``.

        The targets fix the geometry, so decoding inverts encoding whichever decoder refines the peak.
        """
        size_in = torch.tensor(self.input_size, dtype=torch.float64)
        size_hm = torch.tensor(self.heatmap_size, dtype=torch.float64)
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
        coords, scores = decode_heatmaps(heatmaps, self.method, self.blur_kernel_size)
        scale = self.scale.to(coords.dtype) if isinstance(coords, torch.Tensor) else self.scale.numpy()
        if isinstance(coords, torch.Tensor):
            scale = scale.to(coords.device)
        return coords * scale, scores
