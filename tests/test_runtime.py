"""hrnet_zoo.optimize: every backend agrees with eager, the auto choice is cached, runners stand in
for models in predict_keypoints, and bad requests fail in one clear line."""
import importlib.util

import numpy as np
import pytest
import torch

import hrnet_zoo
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.export import max_relative_error
from hrnet_zoo.runtime import BackendUnavailableError, UnsupportedPrecisionError, hardware, plan
from model_helpers import randomize_bn

SIZE = (64, 48)
HAS_OV = importlib.util.find_spec("openvino") is not None
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
BF16 = hardware.cpu_native("bf16")
pytestmark = pytest.mark.loads_openvino  # a process of their own in a full run (tests/conftest.py)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomize_bn(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=5))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))


CASES = [("torch", "fp32"), pytest.param("onnxruntime", "fp32", marks=pytest.mark.skipif(not HAS_ORT, reason="no ort")),
         pytest.param("openvino", "fp32", marks=pytest.mark.skipif(not HAS_OV, reason="openvino not installed")),
         pytest.param("torch", "bf16", marks=pytest.mark.skipif(not BF16, reason="no native bf16")),
         pytest.param("openvino", "bf16", marks=pytest.mark.skipif(not (HAS_OV and BF16), reason="no OpenVINO bf16"))]


@pytest.mark.parametrize("backend,precision", CASES)
def test_backend_agrees_with_eager(model, backend, precision):
    x = torch.randn(3, 3, *SIZE)
    with torch.no_grad():
        ref = model(x)
    runner = hrnet_zoo.optimize(model, backend, precision, input_size=SIZE)
    out = runner(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == ref.shape
    assert max_relative_error(out, ref) < plan.TOLERANCE[precision]
    assert max_relative_error(runner(x.numpy()), ref) < plan.TOLERANCE[precision]  # arrays too
    assert runner.backend == backend and runner.precision == precision and runner.batch_size is None
    assert runner.pretrained_cfg.keypoints == model.pretrained_cfg.keypoints


def test_the_model_is_left_untouched(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    hrnet_zoo.optimize(model, "torch", "bf16" if BF16 else "fp32", input_size=SIZE)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == before[k].dtype for k in before)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == bns  # not fused in place
    assert all(p.is_contiguous() for p in model.parameters())                  # not channels_last


def test_a_module_left_in_train_mode_is_not_touched_either():
    torch.manual_seed(0)
    model = randomize_bn(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3))
    model.backbone.stage2.train()  # the top module says eval, one child (with BatchNorms) does not
    before = {k: v.clone() for k, v in model.state_dict().items()}
    runner = hrnet_zoo.optimize(model, "auto", "fp32", input_size=SIZE, cache=False)
    x = torch.randn(2, 3, *SIZE)
    runner(x)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and model.backbone.stage2.training and not model.training
    with torch.no_grad():
        expected = model.eval()(x)
    assert max_relative_error(runner(x), expected) < 1e-4  # the runner is the eval-mode model


@pytest.mark.parametrize("backend", ["torch", pytest.param("onnxruntime", marks=[
    pytest.mark.slow, pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")])])
def test_multi_output_model_keeps_its_list(backend):
    model = randomize_bn(hrnet_zoo.create_model("hrnetv2p_w18_small_v1"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    out = hrnet_zoo.optimize(model, backend, "fp32", input_size=(64, 64))(x)
    assert isinstance(out, list) and len(out) == len(ref) == 5
    assert max_relative_error(out, ref) < 1e-4


def test_auto_choice_is_cached_and_reused(model, monkeypatch, caplog):
    caplog.set_level("INFO", logger="hrnet_zoo.runtime")
    # two quick candidates (no ONNX export); bf16 may be emulated here, which only makes it slower
    monkeypatch.setattr(hrnet_zoo.runtime, "candidates", lambda *a: [("torch", "fp32"), ("torch", "bf16")])
    first = hrnet_zoo.optimize(model, input_size=SIZE, batch_size=2)
    assert first.choice["cached"] is False and len(first.choice["measured"]) >= 1
    assert "optimize: chose" in caplog.text
    chosen = (first.backend, first.precision)

    calls = []
    monkeypatch.setattr(hrnet_zoo.runtime, "measure",
                        lambda runners, *a, **k: calls.append(1) or {n: dict(err=0.0, median_ms=1.0) for n in runners})
    second = hrnet_zoo.optimize(model, input_size=SIZE, batch_size=2)
    assert calls == [] and second.choice["cached"] is True and (second.backend, second.precision) == chosen
    assert "cached choice" in caplog.text
    x = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        # another input than the one auto checked: bf16 weights land near the 2e-2 tolerance (2.1e-2 seen)
        assert max_relative_error(second(x), model(x)) < 2 * plan.TOLERANCE[second.precision]
    hrnet_zoo.optimize(model, input_size=SIZE, batch_size=3)  # another shape: measured anew
    assert calls == [1]


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
@pytest.mark.parametrize("flip", [True, False])
def test_predict_keypoints_on_a_runner_equals_the_model(model, flip):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    boxes = [[5, 5, 40, 60], [30, 20, 50, 80], [0, 0, 90, 120]]
    pairs = [(1, 2), (3, 4)]
    expected = hrnet_zoo.predict_keypoints(model, image, boxes, input_size=SIZE, flip_test=flip, flip_pairs=pairs)
    # a fixed batch of 2: three boxes run as a full batch and a padded one
    runner = hrnet_zoo.optimize(model, "onnxruntime", "fp32", input_size=SIZE, batch_size=2)
    got = hrnet_zoo.predict_keypoints(runner, image, boxes, flip_test=flip, flip_pairs=pairs)
    assert got.shape == expected.shape == (3, 5, 3)
    assert torch.allclose(got, expected, atol=1e-3)


def test_fixed_shape_runner_refuses_other_shapes(model):
    runner = hrnet_zoo.optimize(model, "torch", "fp32", input_size=SIZE, batch_size=2)
    with pytest.raises(InvalidArgumentError, match="fixed batch 2"):
        runner(torch.randn(3, 3, *SIZE))
    with pytest.raises(InvalidArgumentError, match=r"input 32×32 \(H×W\) differs from the fixed shape"):
        runner(torch.randn(2, 3, 32, 32))
    with pytest.raises(InvalidArgumentError, match="N×C×H×W"):
        runner(torch.randn(3, *SIZE))


def test_missing_backend_names_the_pip_extra(model, monkeypatch):
    monkeypatch.setattr(plan.importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else object())
    with pytest.raises(BackendUnavailableError, match=r'pip install "hrnet-zoo\[openvino\]"') as info:
        hrnet_zoo.optimize(model, "openvino", "fp32", input_size=SIZE)
    assert "\n" not in str(info.value) and isinstance(info.value, ImportError)


def test_unsupported_precision_says_why_and_what_auto_picks(model, monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    with pytest.raises(UnsupportedPrecisionError, match="no native bf16.*precision='auto' would choose") as info:
        hrnet_zoo.optimize(model, "torch", "bf16", input_size=SIZE)
    assert "fp32" in str(info.value).split("would choose")[1] and "\n" not in str(info.value)
    with pytest.raises(UnsupportedPrecisionError, match="onnxruntime backend runs the fp32 graph only"):
        hrnet_zoo.optimize(model, "onnxruntime", "bf16", input_size=SIZE)
    assert ("torch", "bf16") not in plan.candidates("auto", "auto", torch.device("cpu"), None)


def test_int8_needs_calibration_data(model):
    if plan.unsupported_reason("openvino", "int8", torch.device("cpu")) or not HAS_OV:
        with pytest.raises((UnsupportedPrecisionError, BackendUnavailableError)):
            hrnet_zoo.optimize(model, "openvino", "int8", input_size=SIZE)
        return
    with pytest.raises(InvalidArgumentError, match="int8 needs calibration data"):
        hrnet_zoo.optimize(model, "openvino", "int8", input_size=SIZE)
    assert all(p != "int8" for _, p in plan.candidates("auto", "auto", torch.device("cpu"), None))


# int8 from calibration images (what holds on every CPU, the guard of auto): tests/test_runtime_faults.py


def test_keypoint_shift_decodes_both_outputs_and_warns_past_a_quarter_pixel(model, caplog):
    from hrnet_zoo.codecs import HeatmapCodec
    from hrnet_zoo.runtime.quantize import keypoint_shift

    batches = [torch.randn(8, 3, *SIZE), torch.randn(9, 3, *SIZE)]  # 17: enough to judge by
    cfg = model.pretrained_cfg
    codec = HeatmapCodec(input_size=(256, 192), heatmap_size=(64, 48), sigma=2.0)
    points = torch.tensor([[[96.0, 128.0], [80.0, 120.0], [112.0, 140.0]]])  # (x, y) input px, mid-map
    maps = codec.encode(points)[0]
    moved_maps = codec.encode(points + torch.tensor([4.0, 0.0]))[0]  # one heatmap px (stride 4) to the right

    def fp32(x):
        return maps.expand(len(x), -1, -1, -1)

    with caplog.at_level("INFO", logger="hrnet_zoo.runtime"):
        exact = keypoint_shift(fp32, lambda x: [fp32(x)], batches, cfg, torch.device("cpu"), batch_size=2)
        moved = keypoint_shift(fp32, lambda x: [moved_maps.expand(len(x), -1, -1, -1)], batches, cfg,
                               torch.device("cpu"))
    assert exact == dict(mean_px=0.0, p95_px=0.0, max_px=0.0, keypoints=17 * 3, inputs=17,  # 2+…+2+1, padded
                         in_sample=True, enough_inputs=True)
    assert moved["mean_px"] == pytest.approx(1.0, abs=1e-3) and moved["keypoints"] == 17 * 3
    assert [r.levelname for r in caplog.records if "int8 keypoints" in r.message] == ["INFO", "WARNING"]
    classifier = hrnet_zoo.create_model("hrnet_w18_small_v1_cls", num_classes=3).eval()
    assert keypoint_shift(classifier, lambda x: [classifier(x)], batches, classifier.pretrained_cfg,
                          torch.device("cpu")) is None


def test_optimize_refuses_what_is_not_a_model(model):
    with pytest.raises(InvalidArgumentError):
        hrnet_zoo.optimize(lambda x: x)
    with pytest.raises(ValueError, match="unknown backend"):
        hrnet_zoo.optimize(model, "tensorrt")
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        hrnet_zoo.optimize(model, "torch", "fp32", batch_size=0)


def test_hardware_description_names_the_cpu():
    info = hardware.describe_cpu()
    assert info["cpu"] and isinstance(info["cpu_flags"], list)
    assert hardware.cpu_name() in hardware.machine_key()


# ------------------------------------------------------------------------------------------------ CLI


@pytest.mark.skipif(not HAS_OV, reason="openvino not installed")
def test_cli_export_openvino_ir_refuses_to_overwrite(tmp_path, capsys):
    from hrnet_zoo.cli import main

    out = tmp_path / "m.xml"
    args = ["export", "--model", "w18_small_v1", "--format", "openvino", "--output", str(out), "--input-size", "64x48"]
    assert main(args) == 0
    assert "OpenVINO max relative error" in capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".bin").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert main(args) == 2
    assert "already exist; pass --force" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert main(args[:-4] + ["--output", str(tmp_path / "m.onnx")]) == 2
    assert "NAME.xml" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_cli_export_dynamic_hw_runs_at_other_sizes(tmp_path, capsys):
    from hrnet_zoo.cli import main
    from hrnet_zoo.export import onnx_max_rel_error

    out = tmp_path / "m.onnx"
    ckpt = tmp_path / "w.pth"
    model = randomize_bn(hrnet_zoo.create_model("hrnet_w18_small_v1"))
    torch.save(model.state_dict(), ckpt)
    assert main(["export", "--model", "w18_small_v1", "--checkpoint", str(ckpt), "--output", str(out),
                 "--input-size", "64x48", "--dynamic-hw"]) == 0
    assert "dynamic batch, H and W" in capsys.readouterr().out
    assert onnx_max_rel_error(out, model, torch.randn(2, 3, 96, 64)) < 1e-4
    assert main(["export", "--model", "w18_small_v1", "--checkpoint", str(ckpt), "--output", str(ckpt), "--force"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert main(["export", "--model", "hrnetv2p_w18_small_v1", "--output", str(tmp_path / "p.onnx"),
                 "--input-size", "64x48", "--dynamic-hw"]) == 2
    assert "cannot be exported with dynamic H and W" in capsys.readouterr().err


def test_cli_benchmark_prints_a_table(capsys, monkeypatch):
    from hrnet_zoo.cli import main
    from hrnet_zoo.cli import runtime as cli_runtime

    # eager against the torch peers only: the full set is timed by benchmarks/forward.py
    monkeypatch.setattr(cli_runtime, "PEERS", (("torch fp32", "torch", "fp32"), ("torch fp64", "torch", "fp64")))
    monkeypatch.setattr(plan, "unsupported_reason", lambda b, p, d: "not a precision" if p == "fp64" else None)
    assert main(["benchmark", "--model", "w18_small_v1", "--input-size", "64x48", "--iters", "1"]) == 0
    out = capsys.readouterr().out
    assert "hrnet_w18_small_v1 at 64x48, batch 1" in out and hardware.cpu_name() in out
    assert "eager fp32" in out and "torch fp32" in out and "1.00×" in out and "skipped torch fp64" in out
