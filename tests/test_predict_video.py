"""``hrnet-zoo predict`` without boxes (a detector: full image, ONNX, a detections file), on folders of
images and on videos (MP4 with skeletons + one JSON line per frame, stable track ids), and
``hrnet-zoo evaluate --batch-size/--runtime``. Videos are drawn in the test and encoded with PyAV."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import detector_graphs as graphs
import hrnet_zoo
from cli_output import error_lines
from hrnet_zoo.cli import build_parser, main
from hrnet_zoo.cli.predict_video import Interrupted, _run_video
from hrnet_zoo.video import PoseTracker, VideoWriter, probe_video, read_frames
from synthetic_keypoints import make_synthetic_coco

pytest.importorskip("av")
REPO = Path(__file__).resolve().parents[1]
BACKGROUND = (40, 60, 40)
FRAMES, SIZE = 8, 96


def figure_boxes(t: int) -> list[list[float]]:
    """x, y, w, h of the two figures of frame ``t``: one walks right, the other left (2 px a frame)."""
    return [[6 + 2 * t, 14 + t, 24, 60], [66 - 2 * t, 20, 24, 60]]


def draw_frame(t: int) -> np.ndarray:
    """A 96×96 frame with two stick figures (head, body, arms, legs) in their boxes."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for (x, y, w, h), colour in zip(figure_boxes(t), ((230, 200, 60), (90, 170, 240))):
        cx = x + w // 2
        draw.ellipse([cx - 5, y, cx + 5, y + 10], fill=colour)
        draw.line([cx, y + 10, cx, y + 38], fill=colour, width=3)
        draw.line([x, y + 18, x + w - 1, y + 18], fill=colour, width=3)
        draw.line([cx, y + 38, x + 2, y + h - 1], fill=colour, width=3)
        draw.line([cx, y + 38, x + w - 3, y + h - 1], fill=colour, width=3)
    return np.asarray(image)


def figures_in(image: np.ndarray) -> np.ndarray:
    """A detector of the figures: columns holding non-background pixels, split where a gap of empty
    columns is; N×5 boxes (x, y, w, h, score 0.9), listed right to left (not the tracker's order)."""
    drawn = np.abs(image.astype(int) - BACKGROUND).sum(-1) > 60
    columns = np.flatnonzero(drawn.any(0))
    groups = np.split(columns, np.flatnonzero(np.diff(columns) > 3) + 1)
    boxes = []
    for group in groups:
        rows = np.flatnonzero(drawn[:, group[0]:group[-1] + 1].any(1))
        boxes.append([group[0], rows[0], group[-1] - group[0] + 1, rows[-1] - rows[0] + 1, 0.9])
    return np.array(boxes[::-1], dtype=np.float64)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained_cfg_overlay={"input_size": (64, 48)}).eval()
    folder = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(folder)
    return model, str(folder)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    with VideoWriter(path, fps=10) as writer:
        for t in range(FRAMES):
            writer.write(draw_frame(t))
    return path


def test_the_figures_detector_finds_both_figures():
    found = figures_in(draw_frame(3))
    assert len(found) == 2
    np.testing.assert_allclose(found[::-1, :4], np.array(figure_boxes(3)), atol=1)


def test_stream_and_tracker_keep_each_figures_id_while_they_move(tiny_model):
    model, _ = tiny_model
    estimator = hrnet_zoo.PoseEstimator(model, detector=figures_in, batch_size=3, flip_test=False)
    tracker = PoseTracker()
    ids_by_figure = []
    for t, people in enumerate(estimator.stream(draw_frame(t) for t in range(FRAMES))):
        assert len(people) == 2
        ids = tracker.update(np.stack([p.box for p in people]), np.stack([p.keypoints for p in people]))
        left_first = np.argsort([p.box[0] for p in people])   # the detector lists them right to left
        ids_by_figure.append(ids[left_first].tolist())
    assert ids_by_figure == [[2, 1]] * FRAMES  # ids follow the figures (first seen right to left), never renumbered


def test_predict_video_writes_an_mp4_and_one_json_line_per_frame(tiny_model, video, tmp_path, capsys):
    _, model_dir = tiny_model
    detections = [{"image_id": t, "category_id": 1, "bbox": box, "score": 0.9}
                  for t in range(FRAMES) for box in figure_boxes(t)]
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    out = tmp_path / "out"
    argv = ["predict", "--model", model_dir, "--video", str(video), "--detector", str(tmp_path / "dets.json"),
            "--output", str(out), "--batch-size", "3", "--no-flip-test", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == FRAMES
    lines = (out / "walk_pose.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert records[0]["time"] == 0.0 and records[-1]["time"] == pytest.approx((FRAMES - 1) / 10)
    for t, record in enumerate(records):
        assert [i["box"] for i in record["instances"]] == figure_boxes(t)
        assert all(np.array(i["keypoints"]).shape == (17, 3) and np.isfinite(i["score"]) for i in record["instances"])
    ids = [[i["track_id"] for i in r["instances"]] for r in records]
    assert ids == [[1, 2]] * FRAMES
    decoded = [frame for _, _, frame in read_frames(out / "walk_pose.mp4")]
    assert len(decoded) == FRAMES and decoded[0].shape == (SIZE, SIZE, 3)
    assert probe_video(out / "walk_pose.mp4").fps == 10
    # outputs are kept without --force, replaced with it
    assert main(argv) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(argv + ["--force", "--smooth"]) == 0


def test_ctrl_c_leaves_the_frames_written_readable(tiny_model, video, tmp_path):
    model, model_dir = tiny_model
    out = tmp_path / "out"
    out.mkdir()
    args = build_parser().parse_args(["predict", "--model", model_dir, "--video", str(video), "--detector", "full",
                                      "--output", str(out), "--batch-size", "1", "--no-flip-test", "--json"])
    args.score_threshold = 0.3
    seen = []

    def detector_pressed_ctrl_c_at_frame_5(image):   # the user presses Ctrl-C while frame 5 is detected
        seen.append(1)
        if len(seen) == 6:
            raise KeyboardInterrupt
        return figures_in(image)

    with pytest.raises(Interrupted, match="hold the first 5 frames") as caught:
        _run_video(model, detector_pressed_ctrl_c_at_frame_5, None, args, probe_video(video),
                   out / "walk_pose.mp4", out / "walk_pose.jsonl")
    assert caught.value.exit_status == 130
    records = [json.loads(line) for line in (out / "walk_pose.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    assert sum(1 for _ in read_frames(out / "walk_pose.mp4")) == 5


def one_person_yolox_output() -> np.ndarray:
    """Raw YOLOX output of a 64×64 input (anchors of strides 8, 16, 32; two classes): zero but for the
    stride-8 cell (column 3, row 4), offsets (0.5, 0.5), size (2, 4) cells, objectness 0.9, person 0.8.
    Its box: centre (28, 36), 16 × 32 pixels, so x, y, w, h = 20, 20, 16, 32."""
    raw = np.zeros((1, 64 + 16 + 4, 7), np.float32)
    raw[0, 4 * 8 + 3] = [0.5, 0.5, np.log(2.0), np.log(4.0), 0.9, 0.8, 0.1]
    return raw


def write_photos(folder: Path, count: int = 3) -> list[Path]:
    from PIL import Image

    folder.mkdir()
    paths = []
    for i in range(count):
        paths.append(folder / f"photo_{i}.jpg")
        Image.fromarray(draw_frame(i)[:64, :64]).save(paths[-1], quality=95)
    (folder / "notes.txt").write_text("not an image")
    return paths


def test_images_folder_with_the_full_image_detector_needs_no_boxes(tiny_model, tmp_path, capsys):
    _, model_dir = tiny_model
    write_photos(tmp_path / "photos")
    out = tmp_path / "out"
    assert main(["predict", "--model", model_dir, "--images", str(tmp_path / "photos"), "--detector", "full",
                 "--output", str(out), "--no-flip-test", "--json"]) == 0
    assert "detector: full" in capsys.readouterr().err
    results = json.loads((out / "keypoints.json").read_text())
    assert [r["file_name"].rsplit("/", 1)[-1] for r in results] == ["photo_0.jpg", "photo_1.jpg", "photo_2.jpg"]
    assert [r["image_id"] for r in results] == [0, 1, 2]
    assert all(r["box"] == [0.0, 0.0, 64.0, 64.0] and len(r["keypoints"]) == 17 * 3 for r in results)
    assert sorted(p.name for p in out.glob("*.jpg")) == [f"photo_{i}_keypoints.jpg" for i in range(3)]
    again = ["predict", "--model", model_dir, "--images", str(tmp_path / "photos"), "--detector", "full",
             "--output", str(out)]
    assert main(again) == 2   # "full" is no file: the outputs are what is refused
    assert "already exist" in capsys.readouterr().err
    # a folder with one box for every image, as with a list of files
    assert main(["predict", "--model", model_dir, "--images", str(tmp_path / "photos"), "--box", "4,4,40,50",
                 "--output", str(tmp_path / "boxed"), "--no-flip-test"]) == 0
    boxed = json.loads((tmp_path / "boxed" / "keypoints.json").read_text())
    assert [r["box"] for r in boxed] == [[4.0, 4.0, 40.0, 50.0]] * 3


def test_no_box_source_is_one_line_saying_how_to_choose_a_detector(tiny_model, tmp_path, capsys):
    _, model_dir = tiny_model
    write_photos(tmp_path / "photos", 1)
    for source in (["--images", str(tmp_path / "photos")], ["--video", "walk.mp4"]):
        assert main(["predict", "--model", model_dir, *source, "--output", str(tmp_path / "out")]) == 2
        (line,) = error_lines(capsys.readouterr().err)
        assert "--detector PATH.onnx | hf-hub:org/repo/file.onnx | full" in line and "--box" in line
    assert main(["predict", "--model", model_dir, "--images", str(tmp_path / "photos"), "--detector", "full",
                 "--box", "1,1,5,5", "--output", str(tmp_path / "out")]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_an_onnx_yolox_detector_runs_end_to_end_through_predict_images(tiny_model, tmp_path, capsys):
    _, model_dir = tiny_model
    graphs.yolox_constant(tmp_path / "yolox_tiny.onnx", one_person_yolox_output(), size=(64, 64))
    write_photos(tmp_path / "photos", 2)
    out = tmp_path / "out"
    assert main(["predict", "--model", model_dir, "--images", str(tmp_path / "photos"), "--detector",
                 str(tmp_path / "yolox_tiny.onnx"), "--detector-family", "yolox", "--output", str(out),
                 "--no-flip-test", "--batch-size", "2", "--json"]) == 0
    assert "OnnxDetector(" in capsys.readouterr().err
    results = json.loads((out / "keypoints.json").read_text())
    assert [r["image_id"] for r in results] == [0, 1]   # one person per photo: the graph's, in image pixels
    for r in results:
        np.testing.assert_allclose(r["box"], [20, 20, 16, 32], atol=1e-4)
        assert r["box_score"] == pytest.approx(0.72, abs=1e-5)


@pytest.mark.slow  # a fresh interpreter
def test_predict_video_without_pyav_is_one_line(tmp_path):
    fake = tmp_path / "no_av"
    (fake / "av").mkdir(parents=True)
    (fake / "av" / "__init__.py").write_text("raise ImportError('No module named av (simulated)')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "hrnet_zoo.cli", "predict", "--model", "w32", "--video", "in.mp4",
                           "--detector", "full", "--output", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    (line,) = error_lines(proc.stderr)
    assert 'pip install "hrnet-zoo[video]"' in line
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def coco_val(tmp_path_factory):
    """A synthetic COCO-format val set (figures with 5 keypoints) and a tiny model saved for them."""
    from hrnet_zoo.data import load_coco_keypoints

    root = tmp_path_factory.mktemp("coco")
    paths = make_synthetic_coco(root, num_images=4, seed=5, split="val", image_size=(96, 96))
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained_cfg_overlay={"input_size": (64, 48)},
                                   keypoints=load_coco_keypoints(paths["ann_file"], paths["image_dir"]).keypoint_set)
    model.eval().save_pretrained(root / "model")
    return {**paths, "model_dir": str(root / "model")}


def _evaluate(capsys, coco, *extra) -> dict:
    assert main(["evaluate", "--model", coco["model_dir"], "--ann", coco["ann_file"], "--images", coco["image_dir"],
                 "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_batch_size_and_torch_runtime_give_the_eager_ap(coco_val, capsys):
    eager = _evaluate(capsys, coco_val)
    batched = _evaluate(capsys, coco_val, "--batch-size", "3")
    runner = _evaluate(capsys, coco_val, "--batch-size", "4", "--runtime", "torch")
    assert eager["runtime"] == "torch eager" and runner["runtime"].startswith("torch fp32")
    assert eager["num_images"] == 4 and all(m["images_per_s"] > 0 for m in (eager, batched, runner))
    for key in ("AP", "AP50", "AR", "mean_error_px"):
        assert batched[key] == pytest.approx(eager[key], abs=1e-6)
        assert runner[key] == pytest.approx(eager[key], abs=1e-3)   # fp32 with BatchNorm folded


def test_evaluate_prints_images_per_second_and_refuses_a_bad_batch(coco_val, capsys):
    model_dir = coco_val["model_dir"]
    assert main(["evaluate", "--model", model_dir, "--ann", coco_val["ann_file"], "--images", coco_val["image_dir"],
                 "--batch-size", "0"]) == 2
    assert "--batch-size must be a positive integer" in capsys.readouterr().err
    assert main(["evaluate", "--model", model_dir, "--ann", coco_val["ann_file"], "--images", coco_val["image_dir"],
                 "--batch-size", "5", "--no-flip-test"]) == 0
    printed = capsys.readouterr().out
    assert "images/s" in printed and "(torch eager)" in printed
