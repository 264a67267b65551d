"""pretrained= for registered models: ImageNet backbone init, new keypoint sets, malicious pickles,
the Hub format (save/push/from_pretrained) and the download/convert CLI.

Hub-backed checks run once in a subprocess against the local Hub (see ``tests/hub_client.py``);
the rest use local folders only. Nothing here reaches the internet.
"""
from __future__ import annotations

import io
import json
import warnings

import pytest
import torch
from hub_server import LocalHub, official_pose_checkpoint
from safetensors.torch import save, save_file

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.weights import CheckpointError
from hrnet_zoo.weights.manifest import UnknownWeightsError, resolve_weights
from hrnet_zoo.weights.pretrained import PretrainedWeightsError, pretrained_model_kwargs


class _RunsCode:
    """Pickles to a call of ``exec``: what a malicious ``.pth`` looks like."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


@pytest.fixture(scope="module")
def hub_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    hub = LocalHub(root / "server")
    try:
        torch.manual_seed(3)
        cls = hrnet_zoo.create_model("hrnet_w18_small_v1_cls")
        cls_state = cls.state_dict()
        # timm's repo holds the official classification keys (no backbone./head. prefixes).
        hub.publish("timm/hrnet_w18_small.ms_in1k",
                    {"model.safetensors": save({k.split(".", 1)[1]: v for k, v in cls_state.items()})})
        save_file(cls_state, root / "cls.safetensors")
        save_file({k[len("backbone."):]: v for k, v in cls_state.items() if k.startswith("backbone.")},
                  root / "cls_backbone.safetensors")
        pose_bytes, pose_state = official_pose_checkpoint(seed=4)
        hub.publish("org/pose-small", {"pose.pth": pose_bytes})
        hub.publish("org/pose-cli", {"pose.pth": pose_bytes})  # a source nothing has downloaded yet
        save_file(pose_state, root / "pose.safetensors")
        evil = io.BytesIO()
        torch.save({"weight": _RunsCode(str(root / "pwned"))}, evil)
        hub.publish("org/evil", {"evil.pth": evil.getvalue()})
        args = {"ref_cls": str(root / "cls.safetensors"), "ref_cls_backbone": str(root / "cls_backbone.safetensors"),
                "ref_main": str(root / "pose.safetensors"), "marker": str(root / "pwned")}
        yield hub.client("pretrained", args, hub.env(root / "client", HF_TOKEN="hf_write"))
    finally:
        hub.close()


def test_a_tag_brings_its_pretrained_cfg_to_predict_keypoints(hub_results):
    assert hub_results["tag_cfg"] == {"input_size": [128, 96], "crops_fed": [[128, 96], [128, 96]],
                                      "tag": "crop-test", "source": "hf://org/pose-small/pose.pth",
                                      "license": "MIT", "sigma": 3.0, "keypoints": "coco",
                                      "keypoints_shape": [1, 17, 3]}


def test_in1k_loads_timm_weights_into_the_backbone_only(hub_results):
    assert hub_results["in1k_backbone"] == {"backbone_equal": True, "head_untouched_shape": [17, 16, 1, 1]}
    assert hub_results["in1k_v2_and_features"] == {"v2": True, "features_only": True}
    assert hub_results["cls_full"]["equal"]


def test_five_joints_keep_pretrained_backbone_and_fresh_final_layer(hub_results):
    result = hub_results["five_joints"]
    assert result["backbone_equal"] and result["final_shape"] == [5, 16, 1, 1]
    (message,) = result["warnings"]
    assert "head.final_layer" in message and "(17, 16, 1, 1)" in message and "(5, 16, 1, 1)" in message


def test_pickle_that_runs_code_is_refused(hub_results):
    result = hub_results["malicious_pickle"]
    assert result["error"] == "CheckpointError" and "weights_only=True" in result["message"]
    assert not result["marker_exists"] and result["new_converted"] == []


def test_fine_tuned_model_round_trips_through_hub(hub_results):
    result = hub_results["push_round_trip"]
    assert result["class"] == "HRNetPose" and result["num_keypoints"] == 5
    assert result["identical"] and result["hf_hub_rev_identical"]
    assert result["cfg_identical"] and result["flip_pairs"] == [[1, 2]]  # the keypoint set came back
    assert "/me/pose-5/commit/" in result["commit_url"]


def test_cli_download_of_a_new_source_downloads_it_once(hub_results):
    result = hub_results["cli_download_cold"]
    assert result["rc"] == 0 and "pose-cli" in result["stdout"]
    file = "/org/pose-cli/resolve/main/pose.pth"
    assert [r for r in result["requests"] if r.endswith(file)] == [f"HEAD {file}", f"GET {file}"]


def test_cli_download_prints_path_and_sha256(hub_results):
    result = hub_results["cli_download"]
    assert result["rc"] == 0
    assert "hf://timm/hrnet_w18_small.ms_in1k/model.safetensors" in result["stdout"]
    assert "verified against the Hub's LFS sha256" in result["stdout"]
    assert "converted:" in result["stdout"] and "-HRNetClassifier." in result["stdout"]


# --- local folders and the manifest: no Hub needed --------------------------------------------------------

def test_save_pretrained_names_architecture_and_from_pretrained_rebuilds_it(tmp_path):
    model = hrnet_zoo.create_model("hrnetv2_w18_small_v1", num_classes=7).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "HRNetV2" and config["num_classes"] == 7
    again = hrnet_zoo.from_pretrained(str(tmp_path))
    x = torch.randn(1, 3, 64, 64)
    assert type(again).__name__ == "HRNetV2" and torch.equal(model(x), again(x))


def test_local_folder_with_other_joint_count_reinitialises_only_final_layer(tmp_path):
    source = hrnet_zoo.create_model("hrnet_w18_small_v1")
    source.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="prediction layer 'head.final_layer'"):
        model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path), num_keypoints=5)
    assert torch.equal(model.backbone.conv1.weight, source.backbone.conv1.weight)
    assert model.head.final_layer.weight.shape[0] == 5


def test_saved_folder_brings_its_constructor_arguments(tmp_path):
    """A fine-tuned 5-joint model loads with its own head: config.json's num_keypoints is applied."""
    torch.manual_seed(0)
    source = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=5).eval()
    source.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing re-initialised
        model = hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path)).eval()
    x = torch.randn(1, 3, 64, 48)
    assert model.num_keypoints == 5 and torch.equal(model(x), source(x))
    # A folder holding only the weights: the caller's arguments decide.
    (tmp_path / "config.json").unlink()
    assert hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path), num_keypoints=5).num_keypoints == 5


def test_folder_with_another_librarys_config_loads_by_key_layout(tmp_path):
    """timm's Hub repos hold a config.json too, naming timm's architecture: it is not applied."""
    source = hrnet_zoo.create_model("hrnet_w18_small_v1_cls", num_classes=10)
    save_file(source.state_dict(), tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(
        {"architecture": "hrnet_w18_small", "num_classes": 10, "num_features": 2048, "pretrained_cfg": {}}))
    model = hrnet_zoo.create_model("hrnet_w18_small_v1_cls", pretrained=str(tmp_path), num_classes=10)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


def test_saved_folder_of_another_architecture_points_to_from_pretrained(tmp_path):
    hrnet_zoo.create_model("simplebaseline_r50", num_deconv_filters=[8, 8, 8]).save_pretrained(tmp_path)
    with pytest.raises(PretrainedWeightsError, match="holds a SimpleBaseline.*hrnet_zoo.from_pretrained"):
        hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path))


def test_features_only_takes_the_backbone_of_a_saved_model(tmp_path):
    source = hrnet_zoo.create_model("hrnetv2_w18_small_v1")
    source.save_pretrained(tmp_path / "v2")
    backbone = hrnet_zoo.create_model("hrnetv2_w18_small_v1", pretrained=str(tmp_path / "v2"), features_only=True)
    assert all(torch.equal(v, source.backbone.state_dict()[k]) for k, v in backbone.backbone.state_dict().items())
    # A pose model's backbone stops at the stride-4 output: it cannot fill all four feature maps.
    hrnet_zoo.create_model("hrnet_w18_small_v1").save_pretrained(tmp_path / "pose")
    with pytest.raises(CheckpointError, match="missing keys .*stage4.0.fuse_layers.1"):
        hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path / "pose"), features_only=True)


def test_weights_of_another_width_are_refused(tmp_path):
    hrnet_zoo.create_model("hrnet_w18_small_v1").save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="does not fit"):
        hrnet_zoo.create_model("hrnet_w18_small_v2", pretrained=str(tmp_path))


def test_unknown_tag_lists_available_tags():
    with pytest.raises(UnknownWeightsError, match="coco-256x192.*in1k \\(backbone only\\)"):
        hrnet_zoo.create_model("hrnet_w32", pretrained="no-such-tag")
    with pytest.raises(UnknownWeightsError, match="hrnet_w18 has no default weights"):
        resolve_weights("hrnet_w18", True)


def test_manifest_constructor_arguments_are_applied():
    assert pretrained_model_kwargs("hrnet_w18_cls", "ssld-in1k") == {"head_conv_bias": False}
    assert pretrained_model_kwargs("hrnet_w18_cls", True) == {}


def test_cli_convert_official_checkpoint_to_hub_format(tmp_path, capsys):
    data, state = official_pose_checkpoint(seed=5)
    src = tmp_path / "pose_hrnet_small.pth"
    src.write_bytes(data)
    assert main(["convert", str(src), "--model", "hrnet_w18_small_v1", "--out", str(tmp_path / "out")]) == 0
    model = hrnet_zoo.from_pretrained(str(tmp_path / "out"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert "official HRNet" in capsys.readouterr().out


def test_cli_convert_reads_joint_count_from_checkpoint(tmp_path, capsys):
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=16)  # an MPII-style checkpoint
    save_file(model.state_dict(), tmp_path / "mpii.safetensors")
    assert main(["convert", str(tmp_path / "mpii.safetensors"), "--model", "hrnet_w18_small_v1",
                 "--out", str(tmp_path / "out")]) == 0
    assert "num_keypoints=16" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "config.json").read_text())["num_keypoints"] == 16


def test_cli_convert_missing_file_is_a_usage_error(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nope.pth"), "--model", "w32", "--out", str(tmp_path)]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err


def test_hourglass_folder_loads_strictly_and_fine_tunes_like_the_others(tmp_path):
    small = {"num_features": 16, "depth": 1}
    hrnet_zoo.create_model("hourglass", num_stacks=2, **small).save_pretrained(tmp_path / "two")
    # A full model (it has no .backbone) is not a bare backbone: a second stack's weights are not skipped.
    with pytest.raises(CheckpointError, match="unexpected keys"):
        hrnet_zoo.create_model("hourglass", num_stacks=1, pretrained=str(tmp_path / "two"), **small)
    source = hrnet_zoo.create_model("hourglass", num_stacks=1, **small)
    source.save_pretrained(tmp_path / "one")
    with pytest.warns(UserWarning, match="prediction layer 'heads'"):
        model = hrnet_zoo.create_model("hourglass", num_stacks=1, num_keypoints=5, pretrained=str(tmp_path / "one"),
                                       **small)
    assert torch.equal(model.stem.conv1.weight, source.stem.conv1.weight)
    assert model.heads[0].weight.shape[0] == 5


def test_failed_cache_write_leaves_no_temp_file(tmp_path):
    from hrnet_zoo.weights.cache import write_atomically

    target = tmp_path / "x.safetensors"
    target.mkdir()  # the final rename fails after the temporary file was written
    with pytest.raises(OSError):
        write_atomically(target, lambda tmp: tmp.write_bytes(b"data"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.safetensors"]


def test_local_files_only_without_cache_says_so(tmp_path):
    from hrnet_zoo.weights.hub import OfflineError

    with pytest.raises(OfflineError, match="local_files_only=True and org/absent/config.json is not in the local"):
        hrnet_zoo.from_pretrained("org/absent", local_files_only=True, cache_dir=str(tmp_path))


def test_cli_download_unknown_tag_is_a_usage_error(capsys):
    assert main(["download", "w32", "--tag", "no-such-tag"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "no weights tagged 'no-such-tag'" in line and "coco-256x192" in line


def test_a_folder_whose_config_disagrees_with_its_weights_is_refused(tmp_path):
    hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=5).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_keypoints": 17}))
    with pytest.raises(CheckpointError, match="disagrees with its weights"):
        hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path))
    with pytest.raises(CheckpointError):
        hrnet_zoo.from_pretrained(str(tmp_path))  # the same rule both ways
    with pytest.warns(UserWarning, match="fresh initialisation"):  # asking for a new head is still allowed
        hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path), num_keypoints=3)


def test_cli_convert_asks_before_replacing_and_never_writes_over_its_input(tmp_path, capsys):
    src = tmp_path / "out" / "model.safetensors"
    src.parent.mkdir()
    save_file(hrnet_zoo.create_model("hrnet_w18_small_v1").state_dict(), src)
    before = src.read_bytes()
    for force in ([], ["--force"]):  # the checkpoint is the model.safetensors convert would write
        assert main(["convert", str(src), "--model", "hrnet_w18_small_v1", "--output", str(src.parent), *force]) == 2
        assert "is an input of this command" in capsys.readouterr().err
    assert src.read_bytes() == before and sorted(p.name for p in src.parent.iterdir()) == ["model.safetensors"]
    out = tmp_path / "saved"
    out.mkdir()
    (out / "config.json").write_text("{}")
    argv = ["convert", str(src), "--model", "hrnet_w18_small_v1", "--output", str(out)]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "config.json already exists; pass --force" in line and (out / "config.json").read_text() == "{}"
    assert main([*argv, "--force"]) == 0 and json.loads((out / "config.json").read_text())["num_keypoints"] == 17
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_cli_convert_of_a_folder_says_it_is_a_folder(tmp_path, capsys):
    assert main(["convert", str(tmp_path), "--model", "w32", "--output", str(tmp_path / "out")]) == 2
    assert "is a directory, not a checkpoint file" in capsys.readouterr().err


def test_cli_download_of_a_model_without_weights_gives_shell_advice(capsys):
    assert main(["download", "hourglass"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "hourglass has no published weights" in line and "pretrained=False" not in line
    assert "hrnet-zoo list --pretrained" in line and "hrnet-zoo convert FILE --model hourglass" in line
