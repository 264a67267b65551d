"""Detectors (hrnet_zoo.detect): NMS and filtering, the whole-image and detections-file detectors, and
`OnnxDetector` on tiny ONNX graphs with the inputs and outputs of YOLOX and mmdeploy (RTMDet) exports,
run by the real onnxruntime / OpenVINO, loaded from a path or a local Hub with sha256 checks."""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

import detector_graphs as graphs
from hrnet_zoo.detect import (DetectionsFileDetector, FullImageDetector, OnnxDetector, box_iou, filter_detections,
                              nms)
from hrnet_zoo.detect.decode import FAMILIES, letterbox
from hrnet_zoo.errors import DetectorError, HRNetZooError, InvalidArgumentError
from hrnet_zoo.weights.hub import ChecksumError

REPO = Path(__file__).resolve().parents[1]


def brute_force_nms(boxes, scores, threshold):
    """The textbook loop, pair by pair, with IoU written out from corners."""
    def iou(a, b):
        ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        inter = ix * iy
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)

    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep, dropped = [], set()
    for i in order:
        if i in dropped:
            continue
        keep.append(i)
        dropped.update(j for j in order if j not in dropped and j != i and iou(boxes[i], boxes[j]) > threshold)
    return keep


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_matches_the_brute_force_loop(threshold):
    rng = np.random.default_rng(7)
    centres = rng.uniform(0, 100, size=(5, 2))  # clusters, as a detector's raw boxes around objects
    xy = centres[rng.integers(0, 5, 60)] + rng.normal(0, 6, size=(60, 2))
    boxes = np.concatenate([xy, rng.uniform(8, 30, size=(60, 2))], axis=1)
    scores = rng.uniform(0, 1, 60).round(2)  # ties included
    assert nms(boxes, scores, threshold).tolist() == brute_force_nms(boxes.tolist(), scores.tolist(), threshold)


def test_box_iou_of_known_boxes():
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]]).tolist() == [[50 / 150, 0, 1]]


def test_filter_detections_threshold_classes_and_per_class_nms():
    dets = [[10, 10, 20, 40, 0.9],   # person
            [11, 10, 20, 40, 0.8],   # person, same object: suppressed
            [10, 10, 20, 40, 0.7],   # dog on the same spot: another class, kept by per-class NMS
            [60, 10, 20, 40, 0.2],   # below the threshold
            [80, 10, 0, 40, 0.95],   # no width
            [5, 5, math.nan, 4, 0.9]]
    labels = [0, 0, 16, 0, 0, 0]
    kept = filter_detections(dets, 0.3, labels=labels, nms_iou=0.5)
    assert kept[:, 4].tolist() == [0.9, 0.7]
    assert filter_detections(dets, 0.3, labels=labels, class_ids=[0], nms_iou=0.5)[:, 4].tolist() == [0.9]
    assert filter_detections(dets, 0.0)[:, 4].tolist() == [0.9, 0.8, 0.7, 0.2]  # no NMS: sorted, invalid gone
    assert filter_detections(np.zeros((0, 5)), 0.5, nms_iou=0.5).shape == (0, 5)
    with pytest.raises(InvalidArgumentError, match="labels"):
        filter_detections(dets, class_ids=[0])


def test_full_image_detector_is_one_box_of_the_whole_image():
    assert FullImageDetector()(np.zeros((48, 64, 3), np.uint8)).tolist() == [[0, 0, 64, 48, 1]]
    with pytest.raises(InvalidArgumentError, match="H×W×3"):
        FullImageDetector()(np.zeros((48, 64), np.uint8))


def test_detections_file_by_image_id_and_file_name(tmp_path):
    results = [{"image_id": 397133, "category_id": 1, "bbox": [388.66, 69.92, 109.41, 277.62], "score": 0.99},
               {"image_id": 397133, "category_id": 18, "bbox": [1.1, 2.2, 30.0, 40.0], "score": 0.5},
               {"image_id": 37777, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.61}]
    (tmp_path / "dets.json").write_text(json.dumps(results))
    images = [{"id": 397133, "file_name": "000000397133.jpg", "height": 427, "width": 640},
              {"id": 37777, "file_name": "000000037777.jpg", "height": 230, "width": 352},
              {"id": 252219, "file_name": "000000252219.jpg", "height": 428, "width": 640}]
    detector = DetectionsFileDetector(tmp_path / "dets.json", images=images, category_ids=[1])
    image = np.zeros((427, 640, 3), np.uint8)
    assert detector.lookup(397133).tolist() == [[388.66, 69.92, 109.41, 277.62, 0.99]]
    assert detector(image, "val2017/000000037777.jpg").tolist() == [[10, 20, 30, 40, 0.61]]
    assert detector.lookup("000000252219.jpg").shape == (0, 5)   # an image with no person
    with pytest.raises(DetectorError, match="no detection named 'other.jpg'"):
        detector.lookup("other.jpg")
    with pytest.raises(DetectorError, match="image id or file name"):
        detector(image)


def test_detections_file_rejects_a_zero_size_box(tmp_path):
    (tmp_path / "dets.json").write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 0, 10], "score": 1}]))
    with pytest.raises(HRNetZooError, match=r"dets.json: detection \[0\] \(image id 1\)"):
        DetectionsFileDetector(tmp_path / "dets.json")


@pytest.mark.parametrize("detection, message", [
    ({"image_id": 1, "bbox": [0, 0, float("nan"), 10], "score": 1}, "4 finite numbers"),
    ({"image_id": "1", "bbox": [0, 0, 10, 10], "score": 1}, "is not an integer"),
    ({"image_id": 1, "bbox": [0, 0, 10, 10], "score": "high"}, "'score' must be a finite number"),
])
def test_detections_file_is_checked_as_evaluate_and_predict_check_it(tmp_path, detection, message):
    """The detector of a detections file (predict --video --detector FILE.json) refuses what --boxes
    refuses: one check of detection entries, `hrnet_zoo.data.validate.check_detection`."""
    (tmp_path / "dets.json").write_text(json.dumps([detection]))
    with pytest.raises(HRNetZooError, match=message):
        DetectionsFileDetector(tmp_path / "dets.json")


@pytest.mark.parametrize("family", ["yolox", "rtmdet"])
def test_letterbox_resizes_pads_and_normalises_as_the_family_expects(family):
    image = np.empty((32, 48, 3), np.uint8)
    image[...] = (200, 100, 50)                           # RGB
    x, ratio = letterbox(image, (64, 64), FAMILIES[family])
    assert ratio == pytest.approx(64 / 48) and x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    bgr = np.array([50.0, 100.0, 200.0])
    pad = np.full(3, 114.0)
    if family == "rtmdet":
        mean, std = np.array([103.53, 116.28, 123.675]), np.array([57.375, 57.12, 58.395])
        bgr, pad = (bgr - mean) / std, (pad - mean) / std
    resized_h = int(32 * 64 / 48)                          # 42 rows of image, the rest padding below
    np.testing.assert_allclose(x[0, :, :resized_h, :].reshape(3, -1), np.repeat(bgr[:, None], resized_h * 64, 1),
                               rtol=1e-6)
    np.testing.assert_allclose(x[0, :, resized_h:, :].reshape(3, -1), np.repeat(pad[:, None], (64 - resized_h) * 64, 1),
                               rtol=1e-6)


def hand_made_raw(num_classes=2):
    """Raw YOLOX output for a 64×64 input: zero everywhere except one anchor of the stride-16 grid,
    cell (column 1, row 2), offsets (0.5, 0.25), size (1.5, 0.75) cells, objectness 0.9, classes 0.8/0.1.
    Its box in input pixels: centre (24, 36), 24 × 12, so x, y, w, h = 12, 30, 24, 12."""
    raw = np.zeros((1, 64 + 16 + 4, 5 + num_classes), np.float32)
    raw[0, 64 + 2 * 4 + 1] = [0.5, 0.25, math.log(1.5), math.log(0.75), 0.9, 0.8, 0.1]
    return raw


def test_yolox_decoding_of_a_hand_made_output_in_image_pixels(tmp_path):
    graphs.yolox_constant(tmp_path / "yolox.onnx", hand_made_raw())
    image = np.zeros((32, 48, 3), np.uint8)   # letterboxed by 64/48: divide input pixels by 4/3
    person = OnnxDetector(tmp_path / "yolox.onnx")
    assert person.input_size == (64, 64)
    np.testing.assert_allclose(person(image), [[9.0, 22.5, 18.0, 9.0, 0.72]], rtol=1e-5)
    every_class = OnnxDetector(tmp_path / "yolox.onnx", class_ids=None, score_threshold=0.05)
    dets, labels = every_class.detect(image)
    np.testing.assert_allclose(dets, [[9.0, 22.5, 18.0, 9.0, 0.72], [9.0, 22.5, 18.0, 9.0, 0.09]], rtol=1e-5)
    assert labels.tolist() == [0, 1]


def brute_force_yolox(raw, ratio, score_threshold, nms_iou):
    """YOLOX's decoding written anchor by anchor, then per-class brute-force NMS."""
    rows = []
    index = 0
    for stride in (8, 16, 32):
        for row in range(64 // stride):
            for col in range(64 // stride):
                dx, dy, lw, lh, obj, *classes = raw[index].tolist()
                w, h = math.exp(lw) * stride, math.exp(lh) * stride
                cx, cy = (col + dx) * stride, (row + dy) * stride
                for c, p in enumerate(classes):
                    rows.append(([(cx - w / 2) / ratio, (cy - h / 2) / ratio, w / ratio, h / ratio], obj * p, c))
                index += 1
    kept = []
    for c in {r[2] for r in rows}:
        mine = [r for r in rows if r[2] == c and r[1] >= score_threshold]
        keep = brute_force_nms([r[0] for r in mine], [r[1] for r in mine], nms_iou)
        kept += [mine[i][0] + [mine[i][1]] for i in keep]
    return sorted(kept, key=lambda d: -d[4])


def test_yolox_graph_with_random_weights_end_to_end(tmp_path):
    graphs.yolox_random(tmp_path / "yolox_s.onnx")
    image = np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    detector = OnnxDetector(tmp_path / "yolox_s.onnx", class_ids=None, score_threshold=0.2, nms_iou=0.45)
    dets = detector(image)
    x, ratio = letterbox(image, (64, 64), FAMILIES["yolox"])
    session = onnxruntime.InferenceSession(str(tmp_path / "yolox_s.onnx"), providers=["CPUExecutionProvider"])
    raw = session.run(None, {"images": x})[0][0]
    expected = brute_force_yolox(raw, ratio, 0.2, 0.45)
    assert len(expected) > 3
    np.testing.assert_allclose(dets, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.loads_openvino
def test_openvino_backend_gives_the_onnxruntime_boxes(tmp_path):
    graphs.yolox_random(tmp_path / "yolox_s.onnx", seed=3)
    image = np.random.default_rng(1).integers(0, 256, size=(40, 64, 3), dtype=np.uint8)
    kwargs = dict(class_ids=None, score_threshold=0.2)
    by_ort = OnnxDetector(tmp_path / "yolox_s.onnx", **kwargs)(image)
    by_ov = OnnxDetector(tmp_path / "yolox_s.onnx", backend="openvino", **kwargs)(image)
    assert len(by_ort) > 3
    np.testing.assert_allclose(by_ov, by_ort, rtol=1e-3, atol=1e-2)


def test_rtmdet_end2end_dets_and_labels(tmp_path):
    dets = np.array([[8, 16, 40, 56, 0.95],    # x1 y1 x2 y2 score, input pixels
                     [10, 16, 42, 56, 0.90],   # the same person again (mmdeploy's NMS is per export config)
                     [0, 0, 20, 20, 0.85],     # class 1
                     [30, 30, 50, 60, 0.10]])  # low score
    graphs.end2end_constant(tmp_path / "end2end.onnx", dets, np.array([0, 0, 1, 0]))
    detector = OnnxDetector(tmp_path / "end2end.onnx", family="rtmdet")
    image = np.zeros((128, 96, 3), np.uint8)  # ratio 0.5: image pixels = input pixels × 2
    np.testing.assert_allclose(detector(image), [[16, 32, 64, 80, 0.95]], rtol=1e-6)


def test_dynamic_input_needs_an_input_size(tmp_path):
    graphs.yolox_random(tmp_path / "dynamic.onnx", dynamic=True)
    with pytest.raises(InvalidArgumentError, match=r"takes any input size: give input_size"):
        OnnxDetector(tmp_path / "dynamic.onnx")
    detector = OnnxDetector(tmp_path / "dynamic.onnx", input_size=(64, 96), class_ids=None, score_threshold=0.0)
    assert detector(np.zeros((64, 96, 3), np.uint8)).shape[1] == 5
    graphs.yolox_random(tmp_path / "fixed.onnx")
    with pytest.raises(InvalidArgumentError, match="differs from the 64×64 input"):
        OnnxDetector(tmp_path / "fixed.onnx", input_size=(32, 32))


def test_unusable_files_and_outputs_are_one_line_errors(tmp_path):
    (tmp_path / "notes.onnx").write_text("not a graph")
    with pytest.raises(DetectorError, match="notes.onnx: onnxruntime cannot load it"):
        OnnxDetector(tmp_path / "notes.onnx")
    graphs.yolox_constant(tmp_path / "short.onnx", np.zeros((1, 80, 7), np.float32))
    with pytest.raises(DetectorError, match=r"must be 1×84×\(5\+C\)"):
        OnnxDetector(tmp_path / "short.onnx")(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidArgumentError, match="missing.onnx.: no such file, and not an https:// URL or hf-hub"):
        OnnxDetector(tmp_path / "missing.onnx")
    with pytest.raises(InvalidArgumentError, match="family"):
        OnnxDetector(tmp_path / "short.onnx", family="yolov8")


def test_local_file_is_checked_against_its_sha256(tmp_path):
    data = graphs.yolox_constant(tmp_path / "yolox.onnx", hand_made_raw())
    good = hashlib.sha256(data).hexdigest()
    assert OnnxDetector(tmp_path / "yolox.onnx", sha256=good).path == tmp_path / "yolox.onnx"
    with pytest.raises(ChecksumError, match="checksum mismatch for .*yolox.onnx"):
        OnnxDetector(tmp_path / "yolox.onnx", sha256="0" * 64)


HUB_CLIENT = """
import json, sys
import numpy as np
from hrnet_zoo.detect import OnnxDetector
from hrnet_zoo.errors import HRNetZooError
spec, good = sys.argv[1], sys.argv[2]
out = {}
det = OnnxDetector(spec, sha256=good)
out["boxes"] = det(np.zeros((32, 48, 3), np.uint8)).tolist()
out["cached"] = str(det.path)
try:
    OnnxDetector(spec.replace("@main", ""), sha256="0" * 64)
except HRNetZooError as e:
    out["error"] = [type(e).__name__, str(e)]
print(json.dumps(out))
"""


@pytest.mark.slow  # a Hub server and a client interpreter
def test_hub_file_is_downloaded_into_the_hub_cache_and_verified(tmp_path):
    from hub_server import LocalHub

    hub = LocalHub(tmp_path / "server")
    try:
        data = graphs.yolox_constant(tmp_path / "yolox.onnx", hand_made_raw())
        hub.publish("megvii/yolox-test", {"onnx/yolox_s.onnx": data})
        env = hub.env(tmp_path / "client", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run([sys.executable, "-c", HUB_CLIENT, "hf-hub:megvii/yolox-test/onnx/yolox_s.onnx@main",
                               hashlib.sha256(data).hexdigest()], env=env, capture_output=True, text=True, timeout=120)
    finally:
        hub.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["boxes"], [[9.0, 22.5, 18.0, 9.0, 0.72]], rtol=1e-5)
    assert out["cached"].startswith(str(tmp_path / "client" / "hf"))
    kind, message = out["error"]
    assert kind == "ChecksumError" and "\n" not in message and "megvii/yolox-test/onnx/yolox_s.onnx" in message


def test_make_detector_from_what_a_user_writes(tmp_path):
    from hrnet_zoo.detect import make_detector

    graphs.end2end_constant(tmp_path / "rtmdet_nano_end2end.onnx", np.array([[0, 0, 8, 8, 0.9]]), np.array([0]))
    (tmp_path / "dets.json").write_text(json.dumps([{"image_id": 0, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    own = lambda image: np.zeros((0, 5))  # noqa: E731
    assert make_detector(own) is own
    assert isinstance(make_detector("full"), FullImageDetector)
    assert make_detector(str(tmp_path / "dets.json")).lookup(0).tolist() == [[1, 2, 3, 4, 0.5]]
    onnx_detector = make_detector(tmp_path / "rtmdet_nano_end2end.onnx", score_threshold=0.5)
    assert onnx_detector.family == "rtmdet" and onnx_detector.score_threshold == 0.5
    for spec, message in [(None, "choose a detector: \"full\""), ("yolo", "'yolo' is none of")]:
        with pytest.raises(DetectorError, match=message) as info:
            make_detector(spec)
        assert "\n" not in str(info.value)


@pytest.mark.slow  # a fresh interpreter
def test_missing_onnxruntime_is_a_one_line_error(tmp_path):
    fake = tmp_path / "no_ort"
    (fake / "onnxruntime").mkdir(parents=True)
    (fake / "onnxruntime" / "__init__.py").write_text("raise ImportError('No module named onnxruntime (simulated)')\n")
    graphs.yolox_constant(tmp_path / "yolox.onnx", hand_made_raw())
    script = ("import sys\nfrom hrnet_zoo.errors import HRNetZooError\nfrom hrnet_zoo.detect import OnnxDetector\n"
              "try:\n    OnnxDetector(sys.argv[1])\nexcept HRNetZooError as e:\n"
              "    print(type(e).__name__, isinstance(e, ImportError), repr(str(e)))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "yolox.onnx")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line, = proc.stdout.strip().splitlines()
    assert line.startswith("BackendUnavailableError True") and 'pip install "hrnet-zoo[onnxruntime]"' in line
    assert "\\n" not in line
