"""hrnet_zoo.video: PyAV writing and reading of a synthetic video, JSON lines, tracking of two figures
crossing, One-Euro smoothing, Ctrl-C while writing, and the one-line error without PyAV."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from hrnet_zoo.errors import InvalidArgumentError, VideoError
from hrnet_zoo.pose.keypoint_set import COCO_SIGMAS
from hrnet_zoo.video import (KeypointSmoother, OneEuroFilter, PoseJsonlWriter, PoseTracker, VideoWriter, probe_video,
                             read_frames)

REPO = Path(__file__).resolve().parents[1]
FRAMES = 10
RED, BLUE = (220, 30, 30), (30, 30, 220)
# A figure is 12×24 pixels; 17 "joints" on a fixed pattern inside it, as a pose model would place them.
FIGURE_W, FIGURE_H = 12, 24
PATTERN = np.stack([np.tile([0.2, 0.5, 0.8], 6)[:17], np.repeat(np.linspace(0.05, 0.95, 6), 3)[:17]], axis=1)


def figure_boxes(frame: int) -> dict:
    """Red walks right, blue walks left, 2 pixels a frame; they pass each other at frame 5, 8 rows apart."""
    return {RED: (14 + 2 * frame, 10), BLUE: (34 - 2 * frame, 18)}


def synthetic_frames():
    for frame in range(FRAMES):
        image = np.full((64, 64, 3), 235, np.uint8)
        for colour, (x, y) in figure_boxes(frame).items():  # blue drawn last: in front where they overlap
            image[y:y + FIGURE_H, x:x + FIGURE_W] = colour
        yield image


def colour_detector(image):
    """The figures' boxes from the decoded pixels (any order), with keypoints on the figure's pattern."""
    found = []
    for channel in (0, 2):  # reddish, bluish
        others = [c for c in range(3) if c != channel]
        mask = (image[..., channel] > 150) & (image[..., others] < 120).all(axis=-1)
        ys, xs = np.nonzero(mask)
        x0, y0 = xs.min(), ys.min()
        box = np.array([x0, y0, FIGURE_W, FIGURE_H], np.float64)   # occlusion hides part of red: use its size
        found.append((box, np.concatenate([box[:2] + PATTERN * box[2:], np.ones((17, 1))], axis=1)))
    return found


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    with VideoWriter(path, fps=10) as writer:
        for image in synthetic_frames():
            writer.write(image)
    assert writer.frames_written == FRAMES
    return path


def test_written_video_reads_back_frame_by_frame(video):
    info = probe_video(video)
    assert (info.fps, info.width, info.height) == (10, 64, 64)
    frames = list(read_frames(video))
    assert [i for i, _, _ in frames] == list(range(FRAMES))
    times = [t for _, t, _ in frames]
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    np.testing.assert_allclose(times, np.arange(FRAMES) / 10, atol=1e-6)
    for (_, _, decoded), original in zip(frames, synthetic_frames()):
        assert decoded.shape == (64, 64, 3) and decoded.dtype == np.uint8
        assert np.abs(decoded.astype(int) - original).mean() < 6   # lossy, but the same picture


def test_odd_sizes_and_ntsc_rate(tmp_path):
    with VideoWriter(tmp_path / "odd.mp4", fps=Fraction(30000, 1001), codec="mpeg4") as writer:
        for image in list(synthetic_frames())[:3]:
            writer.write(np.ascontiguousarray(image[:45, :63]))
    frames = list(read_frames(tmp_path / "odd.mp4"))
    assert len(frames) == 3 and frames[0][2].shape == (46, 64, 3)
    np.testing.assert_allclose([t for _, t, _ in frames], np.arange(3) * 1001 / 30000, atol=1e-4)
    assert probe_video(tmp_path / "odd.mp4").fps == Fraction(30000, 1001)


def test_writer_refuses_a_frame_of_another_size(tmp_path):
    with VideoWriter(tmp_path / "a.mp4", fps=5) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        with pytest.raises(InvalidArgumentError, match="frame 1 is 8×16, the video 16×16"):
            writer.write(np.zeros((8, 16, 3), np.uint8))
    assert len(list(read_frames(tmp_path / "a.mp4"))) == 1


def test_unreadable_video_is_one_line(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    for path, message in [(tmp_path / "clip.mp4", "clip.mp4: FFmpeg cannot open it"),
                          (tmp_path / "none.mp4", "none.mp4: video file not found")]:
        with pytest.raises(VideoError, match=message) as info:
            list(read_frames(path))
        assert "\n" not in str(info.value)


def test_tracker_keeps_ids_of_two_figures_crossing_slowly(video):
    for metric in ("oks", "iou"):
        tracker = PoseTracker(metric=metric)
        ids_by_colour = {RED: set(), BLUE: set()}
        rng = np.random.default_rng(0)
        for index, _, image in read_frames(video):
            found = colour_detector(image)
            order = rng.permutation(2)  # a detector lists boxes in no fixed order
            boxes = np.stack([found[i][0] for i in order])
            keypoints = np.stack([found[i][1] for i in order])
            ids = tracker.update(boxes, keypoints if metric == "oks" else None)
            for i, track_id in zip(order, ids):
                ids_by_colour[(RED, BLUE)[i]].add(int(track_id))
        assert ids_by_colour == {RED: {1}, BLUE: {2}}, metric


def test_tracks_survive_missed_frames_then_end():
    tracker = PoseTracker(metric="iou", max_missed=2)
    box = [[10, 10, 20, 40]]
    assert tracker.update(box).tolist() == [1]
    assert tracker.update(np.zeros((0, 4))).tolist() == []
    assert tracker.update(np.zeros((0, 4))).tolist() == []
    assert tracker.update(box).tolist() == [1]        # missed 2 frames: still alive
    for _ in range(3):
        tracker.update(np.zeros((0, 4)))
    assert tracker.update(box).tolist() == [2]        # missed 3: a new id


def test_greedy_matching_takes_the_most_similar_pair_first():
    tracker = PoseTracker(metric="iou", threshold=0.1)
    tracker.update([[0, 0, 10, 10], [6, 0, 10, 10]])
    # The new box overlaps track 2 (IoU 0.67) more than track 1 (IoU 0.25): it continues track 2,
    # and the second new box, overlapping track 1 only, continues track 1.
    assert tracker.update([[8, 0, 10, 10], [-2, 0, 10, 10]]).tolist() == [2, 1]


def test_oks_tracking_uses_the_keypoint_set_sigmas():
    tracker = PoseTracker(metric="oks", threshold=0.5)
    assert tracker._sigmas_for(17) == COCO_SIGMAS
    with pytest.raises(InvalidArgumentError, match="needs keypoints"):
        tracker.update([[0, 0, 10, 10]])


def test_one_euro_reduces_jitter_of_a_still_signal():
    rng = np.random.default_rng(0)
    times = np.arange(300) / 30.0
    truth = np.array([[100.0, 50.0]] * 17)
    noisy = truth + rng.normal(0, 2.0, size=(300, 17, 2))
    smoother = KeypointSmoother(min_cutoff=1.0, beta=0.01)
    out = np.stack([smoother([7], np.concatenate([frame, np.ones((17, 1))], axis=1)[None], t)[0]
                    for frame, t in zip(noisy, times)])
    settled = slice(60, None)
    raw_error = np.abs(noisy[settled] - truth).mean()
    assert np.abs(out[settled, :, :2] - truth).mean() < 0.5 * raw_error
    assert (out[:, :, 2] == 1).all()                     # scores pass unchanged


def test_one_euro_follows_motion_with_speed_adaptation():
    times = np.arange(60) / 30.0
    ramp = 200.0 * times                                  # 200 px/s
    still, adaptive = OneEuroFilter(min_cutoff=1.0, beta=0.0), OneEuroFilter(min_cutoff=1.0, beta=0.05)
    lag_still = ramp[-1] - [still.filter(v, t) for v, t in zip(ramp, times)][-1]
    lag_adaptive = ramp[-1] - [adaptive.filter(v, t) for v, t in zip(ramp, times)][-1]
    assert 0 < lag_adaptive < 0.5 * lag_still


def test_pose_jsonl_is_strict_json_and_flushed_per_line(tmp_path):
    path = tmp_path / "poses.jsonl"
    with PoseJsonlWriter(path) as writer:
        keypoints = torch.tensor([[1.5, 2.25, 0.9], [np.nan, 3.0, 0.0]])   # tensors as well as arrays
        writer.write(0, 0.0, [{"track_id": np.int64(3), "box": np.array([1.0, 2.0, 3.0, 4.0]), "box_score": 0.99,
                               "keypoints": keypoints, "score": np.float32(0.75)}])
        written = path.read_text()   # before close: the line is on disk already
        writer.write(1, 0.04, [])
    assert written.count("\n") == 1
    strict = dict(parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    lines = [json.loads(line, **strict) for line in path.read_text().splitlines()]
    assert lines[0] == {"frame": 0, "time": 0.0, "instances": [
        {"track_id": 3, "box": [1.0, 2.0, 3.0, 4.0], "box_score": 0.99,
         "keypoints": [[1.5, 2.25, pytest.approx(0.9)], [None, 3.0, 0.0]], "score": 0.75}]}
    assert lines[1] == {"frame": 1, "time": 0.04, "instances": []}


INTERRUPTED_WRITER = """
import os, signal, sys
import numpy as np
from hrnet_zoo.video import VideoWriter
with VideoWriter(sys.argv[1], fps=10) as writer:
    for i in range(100):
        if i == 5:
            os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C in the middle of the video
        frame = np.full((32, 32, 3), 20 * i % 255, np.uint8)
        writer.write(frame)
"""


def _env(*front: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, front), str(REPO), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow  # a fresh interpreter
def test_ctrl_c_while_writing_leaves_a_readable_video(tmp_path):
    path = tmp_path / "interrupted.mp4"
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_WRITER, str(path)], env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr
    assert [i for i, _, _ in read_frames(path)] == [0, 1, 2, 3, 4]


@pytest.mark.slow  # a fresh interpreter
def test_missing_pyav_is_a_one_line_error(tmp_path):
    fake = tmp_path / "no_av"
    (fake / "av").mkdir(parents=True)
    (fake / "av" / "__init__.py").write_text("raise ImportError('No module named av (simulated)')\n")
    script = ("from hrnet_zoo.errors import HRNetZooError\n"
              "from hrnet_zoo.video import read_frames, VideoWriter\n"
              "for attempt in (lambda: list(read_frames('in.mp4')), lambda: VideoWriter('out.mp4', 25).write(None)):\n"
              "    try:\n        attempt()\n    except HRNetZooError as e:\n"
              "        print(type(e).__name__, isinstance(e, ImportError), repr(str(e)))\n")
    proc = subprocess.run([sys.executable, "-c", script], env=_env(fake), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("BackendUnavailableError True")
        assert 'pip install "hrnet-zoo[video]"' in line and "\\n" not in line


def test_writers_into_a_missing_folder_are_one_line_errors(tmp_path):
    with pytest.raises(VideoError, match="no_such_dir/out.mp4: cannot write an MP4 there, the folder .*no_such_dir does not exist"):
        VideoWriter(tmp_path / "no_such_dir" / "out.mp4", fps=25).write(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="no_such_dir/out.jsonl: cannot write it"):
        PoseJsonlWriter(tmp_path / "no_such_dir" / "out.jsonl")
