"""hrnet_zoo.optimize and ``hrnet-zoo benchmark`` under faults: a choice cache that cannot be written or
holds bad entries, int8 calibration with too few or no crops, an int8 candidate whose keypoints move
too far, bad ``--threads``. Nothing here depends on this CPU's int8 or bf16 accuracy."""
import importlib.util
import json

import numpy as np
import pytest
import torch

import hrnet_zoo
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.runtime import cache as choices
from hrnet_zoo.runtime.quantize import MIN_CALIBRATION_INPUTS, SHIFT_WARNING_PX
from model_helpers import randomize_bn

SIZE = (64, 48)
HAS_OV = importlib.util.find_spec("openvino") is not None
HAS_NNCF = importlib.util.find_spec("nncf") is not None
BACKENDS_HERE = ["torch"] + [b for b in ("onnxruntime", "openvino") if importlib.util.find_spec(b) is not None]
pytestmark = pytest.mark.loads_openvino  # a process of their own in a full run (tests/conftest.py)
needs_two_backends = pytest.mark.skipif(len(BACKENDS_HERE) < 2, reason="auto fp32 needs two installed backends")
needs_int8 = pytest.mark.skipif(not (HAS_OV and HAS_NNCF), reason="openvino / nncf not installed")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomize_bn(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3))


def street_photos(count: int, boxes_per_image: int = 2, seed: int = 0):
    """``(image, boxes)`` calibration pairs as a detector gives them: uint8 H×W×3 photos of varied size,
    person boxes ``[x, y, w, h]`` in pixels, some touching the border."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        h, w = int(rng.integers(90, 140)), int(rng.integers(70, 120))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        boxes = [[float(rng.integers(0, w // 2)), float(rng.integers(0, h // 3)), float(w // 3), float(h // 2)],
                 [0.0, 0.0, float(w), float(h)]][:boxes_per_image]
        pairs.append((image, boxes))
    return pairs


# ------------------------------------------------------------------------------------ the choice cache


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_two_backends
@pytest.mark.parametrize("fault", ["the cache is a file", "runtime/ is a file", "the lock is a folder"])
def test_a_cache_that_cannot_be_written_warns_and_keeps_the_choice(model, cache_root, fault, caplog):
    if fault == "the cache is a file":
        cache_root.parent.mkdir(parents=True, exist_ok=True)
        cache_root.write_text("not a folder")
    elif fault == "runtime/ is a file":
        cache_root.mkdir(parents=True)
        (cache_root / "runtime").write_text("not a folder")
    else:
        (cache_root / "runtime" / "choices.json.lock").mkdir(parents=True)
    caplog.set_level("INFO", logger="hrnet_zoo.runtime")
    runner = hrnet_zoo.optimize(model, "auto", "fp32", input_size=SIZE, batch_size=1)
    assert runner.choice["cached"] is False and len(runner.choice["measured"]) == len(BACKENDS_HERE)
    assert runner(torch.randn(1, 3, *SIZE)).shape == (1, 3, 16, 12)
    (warning,) = [r.message for r in caplog.records if "cannot store the choice" in r.message]
    assert "choices.json" in warning and "HRNET_ZOO_CACHE" in warning and "\n" not in warning


@pytest.fixture(scope="module")
def stored_key(model, tmp_path_factory):
    """The key under which ``optimize(model, "auto", "auto", SIZE, 1)`` stores its choice (taken from the file
    it writes: the key's recipe is the product's, not the test's)."""
    root = tmp_path_factory.mktemp("first_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HRNET_ZOO_CACHE", str(root))
        hrnet_zoo.optimize(model, "auto", "auto", input_size=SIZE, batch_size=1)
        (key,) = json.loads(choices.cache_file().read_text())
    return key


@pytest.mark.parametrize("entry", [
    pytest.param(dict(backend="openvino", precision="int8", batch=1), id="openvino int8 without calibration"),
    pytest.param(["openvino", "fp32"], id="a list"),
    pytest.param(dict(backend="openvino"), id="no precision"),
    pytest.param(dict(backend="tensorrt", precision="fp32"), id="unknown backend"),
    pytest.param("torch fp32", id="a string"),
])
def test_a_malformed_or_unfitting_cached_choice_is_measured_anew(model, stored_key, cache_root, entry, caplog):
    path = cache_root / "runtime" / "choices.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({stored_key: entry}))
    caplog.set_level("INFO", logger="hrnet_zoo.runtime")
    runner = hrnet_zoo.optimize(model, "auto", "auto", input_size=SIZE, batch_size=1)
    assert runner.choice["cached"] is False and runner.precision != "int8"
    assert [r.levelname for r in caplog.records if "measuring anew" in r.message] == ["WARNING"]
    stored = json.loads(path.read_text())[stored_key]  # the bad entry is replaced by the measured choice
    assert (stored["backend"], stored["precision"]) == (runner.backend, runner.precision)


def test_a_choices_file_that_is_not_an_object_is_ignored(model, stored_key, cache_root, caplog):
    path = cache_root / "runtime" / "choices.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([stored_key]))
    runner = hrnet_zoo.optimize(model, "auto", "auto", input_size=SIZE, batch_size=1)
    assert runner.choice["cached"] is False
    assert "holds a list, not a JSON object" in caplog.text
    assert stored_key in json.loads(path.read_text())


def test_cli_benchmark_goes_on_when_the_cache_cannot_be_written(tmp_path, monkeypatch, capsys, caplog):
    from hrnet_zoo.cli import main
    from hrnet_zoo.cli import runtime as cli_runtime

    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cli_runtime, "PEERS", (("optimize (auto)", "auto", "auto"),))
    assert main(["benchmark", "--model", "w18_small_v1", "--input-size", "64x48", "--iters", "1"]) == 0
    assert "optimize (auto)" in capsys.readouterr().out
    assert "cannot store the choice" in caplog.text


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_cli_benchmark_refuses_threads_below_one(capsys, monkeypatch, threads):
    from hrnet_zoo.cli import main
    from hrnet_zoo.cli import runtime as cli_runtime

    monkeypatch.setattr(cli_runtime, "PEERS", (("torch fp32", "torch", "fp32"),))  # old code ran these
    assert main(["benchmark", "--model", "w18_small_v1", "--input-size", "64x48", "--iters", "1",
                 "--threads", threads]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and f"--threads must be a positive integer, got {threads}" \
        in captured.err


# ------------------------------------------------------------------------------------------------ int8


@needs_int8
@pytest.mark.parametrize("calibration", [
    pytest.param([(img, []) for img, _ in street_photos(3)], id="images without boxes"),
    pytest.param([torch.zeros(0, 3, *SIZE)], id="an empty batch"),
    pytest.param([], id="nothing"),
])
def test_int8_calibration_without_crops_is_one_line_before_nncf(model, calibration, caplog):
    with pytest.raises(InvalidArgumentError, match="int8 calibration data holds no crops") as info:
        hrnet_zoo.optimize(model, "openvino", "int8", input_size=SIZE, calibration=calibration)
    assert "\n" not in str(info.value)
    assert not [r for r in caplog.records if r.name.startswith("nncf")]  # NNCF never ran


@needs_int8
@pytest.mark.slow
def test_a_single_calibration_crop_is_reported_as_too_small_a_sample(model, caplog):
    caplog.set_level("INFO", logger="hrnet_zoo.runtime")
    runner = hrnet_zoo.optimize(model, "openvino", "int8", input_size=SIZE, calibration=street_photos(1, 1))
    assert runner.keypoint_shift_samples == 1
    report = runner.keypoint_shift
    assert report["inputs"] == 1 and report["in_sample"] is True and report["enough_inputs"] is False
    (warning,) = [r for r in caplog.records if "int8 keypoints" in r.message]
    assert warning.levelname == "WARNING" and "in-sample" in warning.message
    assert f"fewer than {MIN_CALIBRATION_INPUTS} crops, too small a sample" in warning.message


@needs_int8
@pytest.mark.slow
def test_int8_runner_from_calibration_images_is_finite_and_reports_its_shift(model, caplog):
    """What holds on every x86 CPU (VNNI or not): shapes, finite outputs, a complete report, and a warning
    exactly where the shift is past the quarter pixel. Accuracy figures: benchmarks/int8_accuracy.py."""
    caplog.set_level("INFO", logger="hrnet_zoo.runtime")
    calibration = street_photos(MIN_CALIBRATION_INPUTS // 2)
    runner = hrnet_zoo.optimize(model, "openvino", "int8", input_size=SIZE, calibration=calibration)
    assert runner.precision == "int8" and runner.keypoint_shift_samples == MIN_CALIBRATION_INPUTS
    x = torch.randn(2, 3, *SIZE)
    out = runner(x)
    assert out.shape == (2, 3, 16, 12) and out.dtype == torch.float32 and torch.isfinite(out).all()
    report = runner.keypoint_shift
    assert report["inputs"] == MIN_CALIBRATION_INPUTS and report["keypoints"] == MIN_CALIBRATION_INPUTS * 3
    assert report["enough_inputs"] and 0 <= report["mean_px"] <= report["max_px"] and report["p95_px"] <= report["max_px"]
    (message,) = [r for r in caplog.records if "int8 keypoints" in r.message]
    assert message.levelname == ("WARNING" if report["mean_px"] > SHIFT_WARNING_PX else "INFO")


@needs_int8
@pytest.mark.slow
def test_auto_does_not_choose_int8_whose_keypoints_move_past_the_guard(tmp_path, monkeypatch, caplog):
    """An untrained model (real int8 from NNCF, no mock): its int8 keypoints move by some amount on any
    CPU, which a guard given explicitly below that amount must reject, whatever int8's speed."""
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    untrained = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).eval()
    calibration = street_photos(MIN_CALIBRATION_INPUTS // 2)
    runner = hrnet_zoo.optimize(untrained, "openvino", "auto", input_size=SIZE, calibration=calibration,
                                int8_max_shift_px=1e-3)
    assert runner.precision != "int8" and "openvino int8" not in runner.choice["measured"]
    assert "over int8_max_shift_px=0.001" in runner.choice["rejected"]["openvino int8"]
    assert "openvino int8 is not a candidate" in caplog.text


@needs_int8
@pytest.mark.slow
def test_auto_does_not_choose_int8_judged_on_too_few_crops(model, tmp_path, monkeypatch):
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))
    runner = hrnet_zoo.optimize(model, "openvino", "auto", input_size=SIZE, calibration=street_photos(2),
                                int8_max_shift_px=100.0)
    assert runner.precision != "int8"
    assert "rests on 4 calibration crops, too few" in runner.choice["rejected"]["openvino int8"]


def test_int8_guard_must_be_a_number(model):
    with pytest.raises(InvalidArgumentError, match="int8_max_shift_px must be a number"):
        hrnet_zoo.optimize(model, "torch", "fp32", input_size=SIZE, int8_max_shift_px=-1)
