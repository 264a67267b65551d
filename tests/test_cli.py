"""The ``hrnet-zoo list / info / flops`` commands: JSON for scripts, tables for people, clear errors."""
import json
import shutil
import subprocess
import sys

import pytest

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.complexity import count_flops

JSON_KEYS = ["model", "input_size", "params", "gflops", "paper_gflops"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def hrnet_zoo_command(*argv):
    """The installed console script, in a fresh interpreter (what users and external checks run)."""
    exe = shutil.which("hrnet-zoo")
    cmd = [exe, *argv] if exe else [sys.executable, "-m", "hrnet_zoo", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_flops_json_has_exactly_the_scripted_keys_and_matches_count_flops(capsys):
    code, out, err = run(capsys, "flops", "--model", "w18_small_v1", "--input-size", "64x48", "--json")
    assert code == 0 and err == ""
    row = json.loads(out)
    assert list(row) == JSON_KEYS
    assert row["model"] == "hrnet_w18_small_v1" and row["input_size"] == [64, 48]
    expected = count_flops(hrnet_zoo.create_model("hrnet_w18_small_v1"), (64, 48))
    assert row["params"] == expected["params"] == 1284961
    assert row["gflops"] == pytest.approx(expected["gflops"], rel=1e-12)
    assert row["paper_gflops"] == pytest.approx(expected["paper_gflops"], rel=1e-12)


@pytest.mark.parametrize("model,size,params,paper", [
    ("w32", None, 28536113, 7.1200),
    ("w48", "384x288", 63595745, 32.8818),
    ("r152", "384x288", 68635473, 35.470),
    ("w64_cls", None, 128059944, 26.9109),
])
def test_flops_json_reproduces_published_rows(capsys, model, size, params, paper):
    argv = ["flops", "--model", model, "--json", "--no-fvcore"] + (["--input-size", size] if size else [])
    code, out, _ = run(capsys, *argv)
    row = json.loads(out)
    assert code == 0 and list(row) == JSON_KEYS
    assert row["params"] == params and row["gflops"] is None
    assert row["paper_gflops"] == pytest.approx(paper, rel=2e-4)


@pytest.mark.parametrize("alias,name", [
    ("w32", "hrnet_w32"), ("hrnet_w32", "hrnet_w32"), ("W48", "hrnet_w48"), ("w18_cls", "hrnet_w18_cls"),
    ("r50", "simplebaseline_r50"), ("v2_w18", "hrnetv2_w18"), ("v2p-w32", "hrnetv2p_w32"),
])
def test_aliases_and_default_input_sizes(capsys, alias, name):
    code, out, _ = run(capsys, "flops", "--model", alias, "--json", "--no-fvcore")
    row = json.loads(out)
    assert code == 0 and row["model"] == name
    expected = {"hrnet_w18_cls": [224, 224], "hrnetv2_w18": [512, 1024], "hrnetv2p_w32": [800, 1216]}
    assert row["input_size"] == expected.get(name, [256, 192])


def test_batch_size_multiplies_the_counts(capsys):
    one = json.loads(run(capsys, "flops", "--model", "w18_small_v1", "--input-size", "64x64", "--json")[1])
    two = json.loads(run(capsys, "flops", "--model", "w18_small_v1", "--input-size", "64x64", "--json",
                         "--batch-size", "2")[1])
    assert list(two) == JSON_KEYS and two["input_size"] == [64, 64]
    assert two["gflops"] == pytest.approx(2 * one["gflops"]) and two["paper_gflops"] == pytest.approx(
        2 * one["paper_gflops"])


def test_flops_table_is_aligned_and_explains_the_conventions(capsys):
    code, out, _ = run(capsys, "flops", "--model", "w18_small_v1", "--input-size", "64x48", "--by-module")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["model", "input", "params", "GFLOPs", "paper", "GFLOPs"]
    assert lines[1].split()[:3] == ["hrnet_w18_small_v1", "64x48", "1.28M"]
    assert len(lines[0]) == len(lines[1])  # right-aligned columns end together
    assert any(line.strip().startswith("backbone.stage2") for line in lines)
    assert "get_model_summary" in out and "fvcore" in out


def test_pattern_gives_a_json_list(capsys):
    code, out, _ = run(capsys, "flops", "--model", "hrnet_w18_small_v*_cls", "--json", "--no-fvcore")
    rows = json.loads(out)
    assert code == 0 and [r["model"] for r in rows] == ["hrnet_w18_small_v1_cls", "hrnet_w18_small_v2_cls"]
    assert [r["paper_gflops"] for r in rows] == pytest.approx([1.4915, 2.4174], rel=2e-4)


@pytest.mark.slow
def test_flops_all_covers_the_registry(capsys):
    code, out, _ = run(capsys, "flops", "--all", "--json", "--no-fvcore")
    rows = json.loads(out)
    assert code == 0 and [r["model"] for r in rows] == hrnet_zoo.list_models()
    assert all(list(r) == JSON_KEYS and r["params"] > 0 and r["paper_gflops"] > 0 for r in rows)


@pytest.mark.parametrize("model,suggestion", [("w33", "hrnet_w32"), ("hrnetv2_w4", "hrnetv2_w44"),
                                              ("simplebaseline_r51", "simplebaseline_r50")])
def test_unknown_model_exits_2_with_closest_names(capsys, model, suggestion):
    code, out, err = run(capsys, "flops", "--model", model)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and model in err and suggestion in err


def test_unknown_model_without_close_names_points_to_list(capsys):
    code, _, err = run(capsys, "info", "foo_bar")
    assert code == 2 and "hrnet-zoo list" in err and err.count("\n") == 1


@pytest.mark.parametrize("size", ["256", "256x", "axb", "256x192x3", "25.6x19"])
def test_malformed_input_size_exits_2_with_the_expected_form(capsys, size):
    code, out, err = run(capsys, "flops", "--model", "w32", "--input-size", size)
    assert code == 2 and out == "" and "expected HxW" in err and err.count("\n") == 1


def test_too_small_input_size_and_bad_batch_size_exit_2(capsys):
    code, _, err = run(capsys, "flops", "--model", "w32", "--input-size", "16x16")
    assert code == 2 and "at least 32" in err
    with pytest.raises(SystemExit) as excinfo:  # argparse's own error: usage + one line, status 2
        main(["flops", "--model", "w32", "--batch-size", "0"])
    assert excinfo.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_flops_needs_exactly_one_of_model_and_all(capsys):
    assert run(capsys, "flops")[0] == 2
    assert run(capsys, "flops", "--all", "--model", "w32")[0] == 2


def test_help_has_examples(capsys):
    for argv in (["flops", "--help"], ["list", "--help"], ["info", "--help"]):
        with pytest.raises(SystemExit) as excinfo:
            main(argv)
        assert excinfo.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_list_patterns_aliases_and_pretrained(capsys):
    code, out, _ = run(capsys, "list", "hrnetv2p_*")
    assert code == 0 and out.split() == hrnet_zoo.list_models("hrnetv2p_*")
    assert run(capsys, "list", "w3*")[1].split() == ["hrnet_w30", "hrnet_w30_cls", "hrnet_w32", "hrnet_w32_cls"]
    assert run(capsys, "list")[1].split() == hrnet_zoo.list_models()
    assert run(capsys, "list", "--pretrained")[1].split() == hrnet_zoo.list_models(pretrained=True)
    code, out, err = run(capsys, "list", "nothing_like_this*")
    assert code == 1 and out == "" and "no models match" in err


def test_info_shows_architecture_cost_and_weights(capsys):
    from hrnet_zoo.cli.models import weights_lines

    code, out, _ = run(capsys, "info", "w32", "--no-fvcore")
    assert code == 0
    assert "HRNetPose" in out and "256x192" in out and "28,536,113" in out and "7.12 paper" in out
    lines = weights_lines("hrnet_w32")
    assert lines[0] in out
    code, out, _ = run(capsys, "info", "hrnet_w18_cls", "--json", "--no-fvcore")
    info = json.loads(out)
    assert list(info)[:5] == JSON_KEYS and info["architecture"] == "HRNetClassifier"
    assert info["config"]["width"] == "w18" and info["input_size"] == [224, 224]
    assert info["weights"] == weights_lines("hrnet_w18_cls")


def test_weights_lines_backbone_init_and_none():
    from hrnet_zoo.cli.models import weights_lines

    assert weights_lines("hrnetv2_w18_small_v1")[0].startswith("in1k: ")
    assert "backbone only" in weights_lines("hrnetv2_w18_small_v1")[0]
    assert weights_lines("simplebaseline_r50_msdh") == ["none"]  # no published weights


def test_installed_command_unknown_model_no_traceback():
    out = hrnet_zoo_command("flops", "--model", "w33")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "hrnet-zoo: error: unknown model 'w33'; did you mean hrnet_w32, hrnet_w30?"]


@pytest.mark.slow
def test_installed_command_flops_w32_json_is_clean():
    """The exact command external checks run: fvcore's trace included, nothing on stderr."""
    out = hrnet_zoo_command("flops", "--model", "w32", "--json")
    assert out.returncode == 0 and out.stderr == ""
    row = json.loads(out.stdout)
    assert list(row) == JSON_KEYS
    assert row == {"model": "hrnet_w32", "input_size": [256, 192], "params": 28536113,
                   "gflops": pytest.approx(7.685342208), "paper_gflops": pytest.approx(7.1200, rel=2e-4)}


def test_version_and_python_m():
    from importlib.metadata import version

    assert hrnet_zoo.__version__ == version("hrnet-zoo")
    proc = subprocess.run([sys.executable, "-m", "hrnet_zoo", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"hrnet-zoo {hrnet_zoo.__version__}"


def test_flops_input_over_fvcore_budget_is_refused_before_allocating(capsys):
    code, out, err = run(capsys, "flops", "--model", "w18_small_v1", "--input-size", "10000x10000")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "10000x10000" in err and "4096x4096" in err and "--no-fvcore" in err
    code, out, _ = run(capsys, "flops", "--model", "w18_small_v1", "--input-size", "10000x10000", "--no-fvcore",
                       "--json")  # counted on the meta device: no memory needed
    assert code == 0 and json.loads(out)["paper_gflops"] > 1000


def test_library_errors_not_caught_by_a_command_are_one_line(capsys, monkeypatch):
    import hrnet_zoo.cli.models as models_cli
    from hrnet_zoo.errors import DatasetError

    def failing(pattern, pretrained=False):
        raise DatasetError("keypoints.json: no annotations\n  (check the file)")

    monkeypatch.setattr(models_cli, "match_models", failing)
    code, out, err = run(capsys, "list")
    assert code == 1 and out == ""
    assert err == "hrnet-zoo: error: keypoints.json: no annotations (check the file)\n"

    def interrupted(pattern, pretrained=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(models_cli, "match_models", interrupted)
    code, out, err = run(capsys, "list")
    assert (code, err) == (130, "hrnet-zoo: interrupted\n")
