"""One-Euro smoothing of keypoints per track (Casiez, Roussel and Vogel, "1€ Filter: A Simple Speed-based
Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012).

Each coordinate is low-pass filtered with a cut-off frequency that rises with its speed: at rest a low
cut-off removes jitter, in fast motion a higher one removes lag. For a sample ``x`` at interval ``te``
seconds after the previous one:

    alpha(fc) = 1 / (1 + 1 / (2π fc te))
    dx̂ = alpha(d_cutoff) · (x − x̂_prev) / te + (1 − alpha(d_cutoff)) · dx̂_prev      (smoothed speed)
    fc = min_cutoff + beta · |dx̂|
    x̂ = alpha(fc) · x + (1 − alpha(fc)) · x̂_prev

Parameters (the paper's tuning: set ``beta = 0`` and lower ``min_cutoff`` until the jitter at rest is
acceptable, then raise ``beta`` until the lag in fast motion is):

* ``min_cutoff`` (Hz): cut-off at rest; lower is smoother and lags more.
* ``beta`` (1/pixel): how fast the cut-off rises with speed (pixels per second).
* ``d_cutoff`` (Hz): cut-off of the speed estimate itself (1 Hz in the paper).
"""
from __future__ import annotations

import math

import numpy as np

from hrnet_zoo.errors import InvalidArgumentError


def _alpha(cutoff, interval: float):
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * interval))


class OneEuroFilter:
    """One-Euro filter of an array of any shape (each element its own signal).

    ``filter(x, t)`` takes the sample at ``t`` seconds; the first sample passes unchanged.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise InvalidArgumentError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0; got {min_cutoff}, "
                                       f"{d_cutoff}, {beta}")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._value = self._speed = self._time = None

    def filter(self, x, timestamp: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._value is None or self._value.shape != x.shape:
            self._value, self._speed, self._time = x.copy(), np.zeros_like(x), float(timestamp)
            return x.copy()
        interval = float(timestamp) - self._time
        if interval <= 0:  # a repeated or out-of-order time: nothing to learn from it
            return self._value.copy()
        a_d = _alpha(self.d_cutoff, interval)
        self._speed = a_d * (x - self._value) / interval + (1 - a_d) * self._speed
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._speed), interval)
        self._value = a * x + (1 - a) * self._value
        self._time = float(timestamp)
        return self._value.copy()


class KeypointSmoother:
    """One `OneEuroFilter` per track over its keypoints' ``x, y`` (scores pass unchanged).

    A track not seen in a frame loses its filter; if it comes back it starts afresh.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0):
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # checks the parameters now, not at the first frame
        self.params = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self._filters: dict[int, OneEuroFilter] = {}

    def __call__(self, track_ids, keypoints, timestamp: float) -> np.ndarray:
        """``keypoints`` N×K×3 of instances ``track_ids`` (N) at ``timestamp`` s → smoothed N×K×3."""
        keypoints = np.array(keypoints, dtype=np.float64)
        ids = [int(i) for i in np.asarray(track_ids).reshape(-1)]
        if keypoints.ndim != 3 or len(ids) != len(keypoints):
            raise InvalidArgumentError(f"expected N×K×3 keypoints for {len(ids)} track ids, got {keypoints.shape}")
        self._filters = {i: self._filters.get(i) or OneEuroFilter(**self.params) for i in ids}
        for row, track_id in enumerate(ids):
            keypoints[row, :, :2] = self._filters[track_id].filter(keypoints[row, :, :2], timestamp)
        return keypoints
