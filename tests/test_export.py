"""ONNX export: dynamic batch axis, onnxruntime within 1e-4 relative of PyTorch, CLI errors exit 2."""
from pathlib import Path

import pytest
import torch

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.export import export_onnx, onnx_max_rel_error
from model_helpers import randomize_bn

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

# One model per family at the smallest width; 64×48 is not divisible by 32, so the fuse layers
# resize by non-integer factors (nearest for pose/cls/V2p, bilinear for V2).
CASES = [
    ("hrnet_w18_small_v1", dict(num_keypoints=5), (64, 48)),
    ("hrnetv2_w18_small_v1", dict(num_classes=4), (64, 48)),
    ("hrnetv2p_w18_small_v1", {}, (64, 64)),
    ("hrnet_w18_small_v1_cls", dict(num_classes=10), (64, 64)),
]
# The other families, named: a family that stops registering fails here instead of dropping out.
CASES += [
    # at the 4:3 aspect of their pose crops: another one warns
    (name, dict(num_stacks=2, num_features=64) if name.startswith("hourglass") else {}, (64, 48))
    for name in ("simplebaseline_r50", "hourglass")  # fixed: a family that stops registering fails
]


@pytest.mark.parametrize("name,kwargs,size", CASES, ids=[c[0] for c in CASES])
def test_onnx_matches_pytorch_at_another_batch(tmp_path, name, kwargs, size):
    model = randomize_bn(hrnet_zoo.create_model(name, **kwargs))
    path = tmp_path / f"{name}.onnx"
    names = export_onnx(model, path, input_size=size)
    assert names == (["output_0", "output_1", "output_2", "output_3", "output_4"]
                     if name.startswith("hrnetv2p") else ["output"])
    x = torch.randn(3, 3, *size)  # traced at batch 1: batch 3 needs the dynamic axis
    assert onnx_max_rel_error(path, model, x) < 1e-4


def test_onnx_graph_has_dynamic_batch_and_no_batchnorm(tmp_path):
    import onnx

    path = tmp_path / "m.onnx"
    export_onnx(hrnet_zoo.create_model("hrnet_w18_small_v1"), path, input_size=(64, 48))
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    ops = {node.op_type for node in graph.node}
    assert "BatchNormalization" not in ops and "Resize" in ops


def test_cli_export_loads_the_checkpoint(tmp_path, capsys):
    model = randomize_bn(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3))
    ckpt = tmp_path / "w.pth"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "m.onnx"
    rc = main(["export", "--model", "w18_small_v1", "--checkpoint", str(ckpt), "--num-keypoints", "3",
               "--format", "onnx", "--output", str(out), "--input-size", "64x48"])
    assert rc == 0
    assert "onnxruntime max relative error" in capsys.readouterr().out
    assert onnx_max_rel_error(out, model, torch.randn(2, 3, 64, 48)) < 1e-4  # the checkpoint's weights


@pytest.mark.parametrize("args,message", [
    (["--model", "hrnet_w33"], "unknown model"),
    (["--model", "w32", "--format", "tflite"], "unsupported --format"),
    (["--model", "w32", "--checkpoint", "/no/such/file.pth"], "not found"),
    (["--model", "w32", "--input-size", "256by192"], "malformed --input-size"),
    (["--model", "w32", "--opset", "7"], "--opset 7 is not supported"),
    (["--model", "hrnetv2p_w18_small_v1", "--num-keypoints", "3"], "does not take --num-keypoints"),
    (["--model", "w18_small_v1", "--num-keypoints", "-3"], "--num-keypoints must be a positive integer, got -3"),
    (["--model", "hrnetv2_w18_small_v1", "--num-classes", "0"], "--num-classes must be a positive integer, got 0"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    rc = main(["export", *args, "--output", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()


def test_cli_mismatched_checkpoint_is_one_line(tmp_path, capsys):
    ckpt = tmp_path / "w.pth"
    torch.save(hrnet_zoo.create_model("hrnet_w18_small_v2").state_dict(), ckpt)  # another width
    rc = main(["export", "--model", "w18_small_v1", "--checkpoint", str(ckpt), "--output", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not fit" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pth"]


def test_cli_export_reads_joint_count_from_checkpoint_like_convert(tmp_path, capsys):
    ckpt = tmp_path / "five.pth"
    torch.save(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=5).state_dict(), ckpt)
    rc = main(["export", "--model", "w18_small_v1", "--checkpoint", str(ckpt), "--output", str(tmp_path / "m.onnx"),
               "--input-size", "64x48", "--no-verify"])
    assert rc == 0 and "num_keypoints=5 (from head.final_layer.weight" in capsys.readouterr().out
    assert onnx.load(str(tmp_path / "m.onnx")).graph.output[0].type.tensor_type.shape.dim[1].dim_value == 5


def test_cli_export_never_replaces_its_checkpoint_and_asks_before_replacing_a_file(tmp_path, capsys):
    ckpt = tmp_path / "w.pth"
    torch.save(hrnet_zoo.create_model("hrnet_w18_small_v1").state_dict(), ckpt)
    before = ckpt.read_bytes()
    for force in ([], ["--force"]):
        rc = main(["export", "--model", "w18_small_v1", "--checkpoint", str(ckpt), "--output", str(ckpt), *force])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "is an input of this command" in err
    assert ckpt.read_bytes() == before
    existing = tmp_path / "m.onnx"
    existing.write_bytes(b"keep me")
    args = ["export", "--model", "w18_small_v1", "--output", str(existing), "--input-size", "64x48", "--no-verify"]
    assert main(args) == 2 and "already exists; pass --force" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert main([*args, "--force"]) == 0 and existing.read_bytes() != b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "w.pth"]  # no temporary file left


def test_onnx_check_leaves_a_child_in_train_mode_untouched(tmp_path):
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).eval()
    model.backbone.stage2.train()  # the top module says eval, one child (with BatchNorms) does not
    path = tmp_path / "m.onnx"
    export_onnx(model, path, input_size=(64, 48))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert onnx_max_rel_error(path, model, torch.randn(2, 3, 64, 48)) < 1e-4  # compared with the eval model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.backbone.stage2.training and not model.training


def test_cli_export_into_a_read_only_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import os
    import tempfile

    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anywhere: the file system refuses as it does others
        real_mkdtemp = tempfile.mkdtemp

        def refuse_in_folder(suffix=None, prefix=None, dir=None):
            if dir is not None and Path(dir) == folder:
                raise PermissionError(13, "Permission denied", str(folder))
            return real_mkdtemp(suffix, prefix, dir)

        monkeypatch.setattr(tempfile, "mkdtemp", refuse_in_folder)
    try:
        rc = main(["export", "--model", "w18_small_v1", "--output", str(folder / "m.onnx"), "--input-size", "64x48",
                   "--no-verify"])
        err = capsys.readouterr().err
        assert rc in (1, 2) and err.count("\n") == 1 and "Traceback" not in err
        assert str(folder) in err and ("not writable" in err or "Permission denied" in err)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


@pytest.fixture
def trained_run(tmp_path):
    """A run folder as `hrnet-zoo train` leaves it: ``best/`` is a save_pretrained folder of a model
    trained at 64×48 on a 4-keypoint data set (its pretrained_cfg says so)."""
    model = randomize_bn(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=4))
    model.pretrained_cfg = model.pretrained_cfg.replace(input_size=(64, 48))
    best = tmp_path / "runs" / "x" / "best"
    model.save_pretrained(best)
    (best.parent / "metrics.jsonl").write_text('{"epoch": 0, "AP": 0.01}\n')
    return model, best


def _input_and_joints(path):
    graph = onnx.load(str(path)).graph
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    return dims[2:], graph.output[0].type.tensor_type.shape.dim[1].dim_value


@pytest.mark.parametrize("how", ["--model FOLDER", "--checkpoint FOLDER", "--checkpoint FOLDER/model.safetensors"])
def test_cli_export_takes_a_trained_run_folder_at_its_own_input_size(trained_run, tmp_path, capsys, how):
    model, best = trained_run
    out = tmp_path / "m.onnx"
    source = {"--model FOLDER": ["--model", str(best)],
              "--checkpoint FOLDER": ["--model", "w18_small_v1", "--checkpoint", str(best)],
              "--checkpoint FOLDER/model.safetensors": ["--model", "w18_small_v1", "--checkpoint",
                                                        str(best / "model.safetensors")]}[how]
    assert main(["export", *source, "--output", str(out)]) == 0
    assert "input N×3×64×48" in capsys.readouterr().out
    assert _input_and_joints(out) == ([64, 48], 4)
    assert onnx_max_rel_error(out, model, torch.randn(2, 3, 64, 48)) < 1e-4  # the run's weights


def test_cli_export_never_writes_over_the_run_folder_it_reads(trained_run, capsys):
    _, best = trained_run
    before = (best / "model.safetensors").read_bytes()
    rc = main(["export", "--model", str(best), "--output", str(best / "model.safetensors"), "--force"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is an input of this command" in err
    assert (best / "model.safetensors").read_bytes() == before
    rc = main(["export", "--model", str(best), "--num-keypoints", "3", "--output", str(best.parent / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "holds its own weights and keypoint count" in err
    rc = main(["export", "--model", str(best.parent), "--output", str(best.parent / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "folder without config.json" in err
