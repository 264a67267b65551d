"""One vocabulary (0.3): ``num_keypoints`` for a pose model's keypoint count, ``decoder`` for the heatmap
decoder. The 0.2 names (``num_joints``, ``method``, ``--num-joints``) still work for one minor version and
warn; a 0.2 ``config.json`` (file data) loads without a warning."""
from __future__ import annotations

import inspect
import json
import warnings

import pytest
import torch

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.codecs import HeatmapCodec, decode_heatmaps
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.models.hourglass import StackedHourglass
from hrnet_zoo.models.hrnet import HRNetPose
from hrnet_zoo.models.simplebaseline import SimpleBaseline, SimpleBaselineMSDH
from hrnet_zoo.pretrained_cfg import PretrainedCfg

POSE_CLASSES = (HRNetPose, SimpleBaseline, SimpleBaselineMSDH, StackedHourglass)
TINY_HOURGLASS = dict(num_stacks=1, num_features=8, depth=1)


@pytest.mark.parametrize("cls", POSE_CLASSES, ids=lambda c: c.__name__)
def test_pose_constructors_name_the_count_num_keypoints(cls):
    parameters = inspect.signature(cls.__init__).parameters
    assert "num_keypoints" in parameters and "num_joints" not in parameters
    assert "num_keypoints" in cls.config_rules() and "num_joints" not in cls.config_rules()
    assert "num_joints" not in cls._hub_mixin_init_parameters  # config.json is written with the new name


def test_num_joints_keyword_of_a_constructor_warns_and_builds_the_same_model():
    with pytest.warns(DeprecationWarning, match="'num_joints' is deprecated.*removed in 0.4.*'num_keypoints'"):
        old = StackedHourglass(num_joints=5, **TINY_HOURGLASS)
    new = StackedHourglass(num_keypoints=5, **TINY_HOURGLASS)
    assert old.num_keypoints == 5 and old.heads[0].out_channels == 5
    assert [p.shape for p in old.parameters()] == [p.shape for p in new.parameters()]
    assert old._hub_mixin_config == new._hub_mixin_config and "num_joints" not in old._hub_mixin_config


def test_num_joints_and_num_keypoints_that_disagree_are_refused():
    with pytest.raises(InvalidArgumentError, match="give 'num_keypoints' only"):
        StackedHourglass(num_keypoints=4, num_joints=5, **TINY_HOURGLASS)


def test_num_joints_keyword_of_create_model_and_factories_warns():
    with pytest.warns(DeprecationWarning, match="num_joints"):
        model = hrnet_zoo.create_model("hourglass", num_joints=3, **TINY_HOURGLASS)
    assert model.num_keypoints == 3 and model.heads[0].out_channels == 3
    with pytest.warns(DeprecationWarning, match="num_joints"):
        assert hrnet_zoo.models.hourglass.hourglass(num_joints=3, **TINY_HOURGLASS).num_keypoints == 3


def test_num_joints_attribute_warns_and_follows_reset_head():
    model = StackedHourglass(num_keypoints=4, **TINY_HOURGLASS)
    model.reset_head(6)
    with pytest.warns(DeprecationWarning, match="'num_joints' is deprecated"):
        assert model.num_joints == 6
    assert model.num_keypoints == 6 and model._hub_mixin_config["num_keypoints"] == 6


def test_official_parameter_count_is_unchanged():
    # the count docs/hourglass.md states for hourglass(num_stacks=8, 17 keypoints)
    assert sum(p.numel() for p in StackedHourglass().parameters()) == 25_437_960


def _saved_like_0_2(model, folder):
    """A folder as 0.2's save_pretrained wrote it: config.json names the keypoint count num_joints."""
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_joints"] = config.pop("num_keypoints")
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_config_json_of_0_2_with_num_joints_loads_without_a_warning(tmp_path):
    model = StackedHourglass(num_keypoints=5, **TINY_HOURGLASS).eval()
    folder = _saved_like_0_2(model, tmp_path / "old")
    assert "num_joints" in json.loads((folder / "config.json").read_text())
    x = torch.rand(1, 3, 64, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        loaded = [hrnet_zoo.from_pretrained(str(folder)), StackedHourglass.from_pretrained(str(folder)),
                  hrnet_zoo.create_model("hourglass", pretrained=str(folder))]
    for again in loaded:
        assert again.num_keypoints == 5
        torch.testing.assert_close(again.eval()(x), model(x))
    loaded[0].save_pretrained(tmp_path / "new")  # saved again: in 0.3's names
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert config["num_keypoints"] == 5 and "num_joints" not in config


def test_config_json_of_0_2_still_checks_the_keypoint_count(tmp_path):
    folder = _saved_like_0_2(StackedHourglass(num_keypoints=5, **TINY_HOURGLASS), tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    config["num_joints"] = 10 ** 8
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hrnet_zoo.weights.config.InvalidConfigError, match="num_keypoints must be an integer"):
        hrnet_zoo.from_pretrained(str(folder))


def test_codec_decoder_keyword_and_its_deprecated_method_alias():
    codec = HeatmapCodec(input_size=(64, 48), heatmap_size=(16, 12), decoder="udp")
    assert codec.decoder == "udp" and codec.target == "udp" and "decoder='udp'" in repr(codec)
    with pytest.warns(DeprecationWarning, match="'method' is deprecated.*'decoder'"):
        old = HeatmapCodec(input_size=(64, 48), heatmap_size=(16, 12), method="udp")
    assert old.decoder == "udp" and old.target == "udp"
    with pytest.warns(DeprecationWarning, match="'method' is deprecated"):
        assert old.method == "udp"
    cfg = PretrainedCfg(input_size=(64, 48), output_stride=4)
    assert HeatmapCodec.for_cfg(cfg, decoder="argmax").decoder == "argmax"
    with pytest.warns(DeprecationWarning, match="'method' is deprecated"):
        assert HeatmapCodec.for_cfg(cfg, method="argmax").decoder == "argmax"
    with pytest.raises(InvalidArgumentError, match="give 'decoder' only"):
        HeatmapCodec(decoder="udp", method="argmax")


def test_decode_heatmaps_method_keyword_warns_and_decodes_the_same():
    heatmaps = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    expected = decode_heatmaps(heatmaps, decoder="quarter")
    with pytest.warns(DeprecationWarning, match="decode_heatmaps: 'method' is deprecated"):
        got = decode_heatmaps(heatmaps, method="quarter")
    torch.testing.assert_close(got, expected)
    assert not torch.equal(expected[0], decode_heatmaps(heatmaps)[0])  # the default (dark) differs: a real check


def test_cli_num_joints_is_a_hidden_alias_that_warns_on_stderr(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    shown = capsys.readouterr().out
    assert "--num-keypoints" in shown and "--num-joints" not in shown
    ckpt = tmp_path / "w.pth"
    torch.save(hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=5).state_dict(), ckpt)
    out = tmp_path / "converted"
    rc = main(["convert", str(ckpt), "--model", "w18_small_v1", "--num-joints", "5", "--output", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "--num-joints is deprecated and will be removed in 0.4; use --num-keypoints" in captured.err
    assert "(from head.final_layer.weight" not in captured.out  # the count came from the option, not detection
    assert json.loads((out / "config.json").read_text())["num_keypoints"] == 5
