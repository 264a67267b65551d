"""Poses in videos: PyAV reading and writing, stable instance ids, One-Euro smoothing.

``av`` (the ``video`` extra: ``pip install "hrnet-zoo[video]"``) is imported only when a video is read
or written; tracking and smoothing need nothing beyond numpy.
"""
from __future__ import annotations

from hrnet_zoo.video.io import (PoseJsonlWriter, VideoInfo, VideoWriter, choose_encoder, probe_video, read_frames,
                                require_av)
from hrnet_zoo.video.smoothing import KeypointSmoother, OneEuroFilter
from hrnet_zoo.video.tracking import PoseTracker, Track

__all__ = ["KeypointSmoother", "OneEuroFilter", "PoseJsonlWriter", "PoseTracker", "Track", "VideoInfo", "VideoWriter",
           "choose_encoder", "probe_video", "read_frames", "require_av"]
