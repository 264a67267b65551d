"""benchmarks/forward.py on CPU with tiny settings: JSON rows, output agreement, skip rules (no timing asserts)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "forward.py"
ROW_KEYS = {"model", "mode", "device", "dtype", "batch_size", "input_size", "median_ms", "p90_ms", "images_per_s",
            "peak_memory_mb", "device_name", "torch_version", "efficiency", "noise_median_ms", "speedup",
            "max_rel_err", "agrees"}


@pytest.fixture(scope="module")
def forward():
    spec = importlib.util.spec_from_file_location("benchmark_forward", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_json_rows_on_cpu(forward, tmp_path, capsys):
    out = tmp_path / "res.json"
    rc = forward.main(["--model", "hrnet_w18_small_v1", "--device", "cpu", "--batch-size", "1", "2",
                       "--input-size", "64", "48", "--iters", "2", "--warmup", "0", "--repeats", "2",
                       "--modes", "eager", "fused", "fused+cl", "fused+cl+bf16+cudagraph", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [(r["batch_size"], r["mode"]) for r in rows] == [(b, m) for b in (1, 2) for m in ("eager", "fused", "fused+cl")]
    for r in rows:
        assert ROW_KEYS <= set(r)
        assert r["device"] == "cpu" and r["dtype"] == "fp32" and r["input_size"] == [64, 48]
        assert r["agrees"] and r["max_rel_err"] < 1e-4
        assert r["peak_source"] == "measured: best of 2048³ GEMM and 3×3 conv" and 0 < r["efficiency"] < r["achieved_gflops"]
        assert 0 < r["median_ms"] <= r["p90_ms"]
        assert r["images_per_s"] == pytest.approx(r["batch_size"] / r["median_ms"] * 1e3, rel=1e-2)
        assert r["noise_median_ms"]["min"] <= r["noise_median_ms"]["median"] <= r["noise_median_ms"]["max"]
        assert r["torch_version"] == torch.__version__
    assert all(r["speedup"] == 1.0 for r in rows if r["mode"] == "eager")
    assert [s["mode"] for s in result["skipped"]] == ["fused+cl+bf16+cudagraph"] * 2
    assert "cpu_native_bf16" in result["environment"]

    forward.main(["--table", str(out)])
    table = capsys.readouterr().out
    assert "| hrnet_w18_small_v1 | 2 | fused+cl | fp32 |" in table and "CUDA graphs need a CUDA device" in table


@pytest.mark.parametrize("name,expected", [
    ("eager", dict()),
    ("fused+cl+bf16", dict(fused=True, channels_last=True, amp="bf16")),
    ("cl+fp16+max-autotune", dict(channels_last=True, amp="fp16", compile="max-autotune")),
    ("fused+cudagraph", dict(fused=True, cuda_graph=True)),
    ("cl+bf16+compile+freeze", dict(channels_last=True, amp="bf16", compile="default", freeze=True)),
    ("max-autotune+freeze", dict(compile="max-autotune", freeze=True)),
])
def test_parse_mode(forward, name, expected):
    assert forward.parse_mode(name) == forward.Mode(name, **expected)


@pytest.mark.parametrize("name", ["fast", "fused+fused", "bf16+fp16", "compile+max-autotune", "eager+cl",
                                  "fused+freeze"])
def test_bad_modes_are_refused(forward, name):
    with pytest.raises(ValueError):
        forward.parse_mode(name)


def test_cpu_without_native_bf16_skips_bf16_modes(forward, monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(forward, "cpu_flags", lambda: {"avx2", "fma"})
    assert "no native bf16" in forward.skip_reason(forward.parse_mode("fused+cl+bf16"), cpu)
    assert forward.skip_reason(forward.parse_mode("fused+cl"), cpu) is None
    monkeypatch.setattr(forward, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert forward.skip_reason(forward.parse_mode("fused+cl+bf16"), cpu) is None


def test_bf16_autocast_agrees_within_tolerance(forward):
    """The bf16 path itself (runs emulated where the CPU lacks bf16): output close to fp32 eager."""
    import hrnet_zoo

    model = hrnet_zoo.create_model("hrnet_w18_small_v1").eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        ref = model(x)
    run, xm = forward.build_runner(model, forward.parse_mode("fused+cl+bf16"), x)
    out = run(xm)
    assert out.dtype == torch.bfloat16
    assert forward.max_relative_error(out, ref) < forward.TOLERANCE["bf16"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error path of a machine without CUDA")
def test_cuda_request_without_gpu_exits_2(forward):
    assert forward.main(["--device", "cuda", "--model", "hrnet_w18_small_v1"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["cl+compile", "cl+compile+freeze"])
def test_compiled_modes_agree_with_eager(forward, mode):
    """Inductor freezing folds BatchNorm and prepacks the weights itself: the unfused model goes in."""
    import hrnet_zoo

    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        ref = model(x)
    run, xm = forward.build_runner(model, forward.parse_mode(mode), x)
    assert forward.max_relative_error(run(xm), ref) < forward.TOLERANCE["fp32"]
    with torch.no_grad():  # freezing leaves the eager model as it was
        assert torch.equal(model(x), ref)


def test_modes_leave_the_eager_model_alone(forward):
    """``cl`` without ``fused`` must not turn the shared baseline's weights channels_last in place."""
    import hrnet_zoo

    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).eval()
    x = torch.randn(1, 3, 64, 48)
    for name in ("cl", "fused+cl", "cl+bf16"):
        run, xm = forward.build_runner(model, forward.parse_mode(name), x)
        run(xm)
    assert all(p.is_contiguous() for p in model.parameters())


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("openvino") is None,
                    reason="onnxruntime / openvino not installed")
@pytest.mark.loads_openvino
def test_runtime_peers_are_rows_against_eager(forward, tmp_path, monkeypatch):
    monkeypatch.setenv("HRNET_ZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "res.json"
    rc = forward.main(["--model", "hrnet_w18_small_v1", "--device", "cpu", "--batch-size", "2", "--input-size", "64", "48",
                       "--iters", "1", "--warmup", "0", "--modes", "eager", "ort", "ov", "ov-bf16", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    rows = {r["mode"]: r for r in result["rows"]}
    expected = {"eager", "ort", "ov"} | ({"ov-bf16"} if forward.cpu_native("bf16") else set())
    assert set(rows) == expected
    for mode in ("ort", "ov"):
        assert rows[mode]["dtype"] == "fp32" and rows[mode]["agrees"] and rows[mode]["speedup"] > 0
    env = result["environment"]
    assert env["cpu"] and "cpu_flags" in env and len(env["loadavg_start"]) == 3
    assert forward.parse_mode("ov-int8") == forward.Mode("ov-int8", backend="ov-int8")


@pytest.mark.parametrize("module,mode", [("nncf", "ov-int8"), ("onnxruntime", "ort")])
def test_a_module_that_cannot_be_imported_skips_its_mode_and_keeps_the_other_rows(tmp_path, module, mode):
    """A package present but broken (its import raises) or absent: the mode is a skipped row with the
    reason, printed and in the JSON; the script exits 0 and writes every other row."""
    import os
    import subprocess

    broken = tmp_path / "broken" / module
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(f"raise ImportError('{module} is broken in this test')\n")
    out = tmp_path / "res.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", HRNET_ZOO_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(broken.parent), str(SCRIPT.parents[1]), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--model", "hrnet_w18_small_v1", "--device", "cpu",
                           "--input-size", "64", "48", "--iters", "1", "--warmup", "0",
                           "--modes", "eager", "fused", mode, "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert [r["mode"] for r in result["rows"]] == ["eager", "fused"]
    (skip,) = result["skipped"]
    assert skip["mode"] == mode and module in skip["reason"]
    assert f"skipped {mode} (hrnet_w18_small_v1): " in proc.stdout
