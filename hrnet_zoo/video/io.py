"""Video in and out with PyAV (FFmpeg): frames in, an MP4 and one JSON line per frame out.

Needs the ``video`` extra (``pip install "hrnet-zoo[video]"``); ``av`` is imported only when a function
here runs. Reading takes any format FFmpeg decodes. Writers close their file in a ``finally``, so a
Ctrl-C (KeyboardInterrupt) leaves an MP4 that plays up to the last frame written and a JSON-lines file
whose every line is complete.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Mapping, Sequence

import numpy as np

from hrnet_zoo._json import strict_dumps
from hrnet_zoo.errors import InvalidArgumentError, VideoError
from hrnet_zoo.runtime.runner import BackendUnavailableError

PIP_VIDEO = 'pip install "hrnet-zoo[video]"'
#: Encoders tried in order: H.264 where this PyAV build has libx264, else MPEG-4 part 2 (always built in).
ENCODERS = ("libx264", "mpeg4")


def require_av():
    """The ``av`` module, or one line saying how to install it."""
    try:
        import av
    except ImportError:
        raise BackendUnavailableError(f"video needs PyAV (the av package), which is not installed: {PIP_VIDEO}") \
            from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What the first video stream of a file declares: frame rate, size, frame count (None: unknown)."""

    fps: Fraction
    width: int
    height: int
    frames: int | None
    duration_s: float | None


def _open_for_reading(path):
    av = require_av()
    if not os.path.isfile(path):
        raise VideoError(f"{path}: video file not found")
    try:
        container = av.open(os.fspath(path))
    except av.FFmpegError as e:
        raise VideoError(f"{path}: FFmpeg cannot open it as a video ({e})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: holds no video stream")
    return container


def probe_video(path) -> VideoInfo:
    """`VideoInfo` of ``path`` (no frame is decoded)."""
    container = _open_for_reading(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        duration = float(stream.duration * stream.time_base) if stream.duration is not None else None
        return VideoInfo(Fraction(rate), stream.codec_context.width, stream.codec_context.height,
                         stream.frames or None, duration)
    finally:
        container.close()


def read_frames(path) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode the first video stream of ``path``.

    Yields:
        (frame index from 0, presentation time in seconds from the stream's start, H×W×3 uint8 RGB).
    """
    av = require_av()
    container = _open_for_reading(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        start = None
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else index / rate
                start = time if start is None else start
                yield index, float(time - start), frame.to_ndarray(format="rgb24")
        except av.FFmpegError as e:
            raise VideoError(f"{path}: FFmpeg failed while decoding ({e})") from None
    finally:
        container.close()


def choose_encoder() -> str:
    """The first of `ENCODERS` this PyAV build has."""
    av = require_av()
    return next((name for name in ENCODERS if name in av.codecs_available), ENCODERS[-1])


class VideoWriter:
    """Write H×W×3 uint8 RGB frames to an MP4 (H.264, or MPEG-4 without libx264), ``fps`` frames per second.

    The size is the first frame's; later frames must match. Odd sizes get one edge column/row
    repeated (the encoders' 4:2:0 colour needs even sizes). Use it as a context manager: the file is
    finalised on exit, also on an exception or Ctrl-C.

    Args:
        path: the ``.mp4`` to write (replaced if it exists).
        fps: frame rate, e.g. `probe_video()`'s ``fps`` of the source (a Fraction keeps 30000/1001 exact).
        codec: an FFmpeg encoder name (default: `choose_encoder()`).
        options: encoder options, e.g. ``{"crf": "23"}`` for libx264.
    """

    def __init__(self, path, fps, codec: str | None = None, options: Mapping[str, str] | None = None):
        self.path = os.fspath(path)
        self.fps = Fraction(fps).limit_denominator(1_000_000) if not isinstance(fps, Fraction) else fps
        if not self.fps > 0:
            raise InvalidArgumentError(f"fps must be positive, got {fps}")
        self.codec = codec or choose_encoder()
        self.options = dict(options or {})
        self.frames_written = 0
        self._container = self._stream = None
        self._size: tuple[int, int] | None = None

    def _open(self, height: int, width: int) -> None:
        av = require_av()
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):  # FFmpeg would only say so at the first packet
            raise VideoError(f"{self.path}: cannot write an MP4 there, the folder {folder} does not exist")
        try:
            self._container = av.open(self.path, mode="w", format="mp4")
            stream = self._container.add_stream(self.codec, rate=self.fps, options=self.options)
        except (av.FFmpegError, OSError, ValueError) as e:
            self.close()
            raise VideoError(f"{self.path}: cannot write an MP4 with {self.codec} ({e})") from None
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / self.fps
        if self.codec == "mpeg4" and "b" not in self.options:
            # FFmpeg's MPEG-4 default (200 kb/s) smears drawn skeletons; 0.2 bit per pixel keeps them sharp.
            stream.bit_rate = max(1_000_000, int(0.2 * stream.width * stream.height * float(self.fps)))
        self._stream, self._size = stream, (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Append one H×W×3 uint8 RGB frame."""
        av = require_av()
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InvalidArgumentError(f"a video frame is H×W×3 uint8 RGB, got {frame.shape} {frame.dtype}")
        if self._container is None:
            self._open(*frame.shape[:2])
        elif frame.shape[:2] != self._size:
            raise InvalidArgumentError(f"frame {self.frames_written} is {frame.shape[0]}×{frame.shape[1]}, "
                                       f"the video {self._size[0]}×{self._size[1]}")
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames_written
        try:
            self._container.mux(self._stream.encode(video_frame))
        except (av.FFmpegError, OSError) as e:
            raise VideoError(f"{self.path}: writing frame {self.frames_written} failed ({e})") from None
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finalise the file (idempotent)."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            if self._stream is not None:
                container.mux(self._stream.encode(None))
        finally:
            container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PoseJsonlWriter:
    """One strict-JSON line per frame, flushed as it is written::

        {"frame": 0, "time": 0.0, "instances": [{"track_id": 1, "box": [x, y, w, h], ...}, ...]}

    Instances are written as given (mappings; numpy arrays and tensors become lists, NaN becomes null). The
    file is opened on construction (replacing one that exists) and closed by `close()` or on exiting
    a ``with`` block.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self._file = open(self.path, "w", encoding="utf-8")
        except OSError as e:
            raise VideoError(f"{self.path}: cannot write it ({e.strerror or e})") from None
        self.lines_written = 0

    def write(self, frame_index: int, timestamp: float, instances: Sequence[Mapping]) -> None:
        """One line: ``frame`` = ``frame_index``, ``time`` = ``timestamp`` (seconds), ``instances``."""
        record = {"frame": int(frame_index), "time": float(timestamp),
                  "instances": [dict(instance) for instance in instances]}
        self._file.write(strict_dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines_written += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "PoseJsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
