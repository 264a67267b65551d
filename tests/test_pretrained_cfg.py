"""Issue 11: keypoint sets, ``pretrained_cfg`` on every model and where it persists, defaults read from
it, one (H, W) convention, timm-grade features/classifier details and one error hierarchy."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import hrnet_zoo
from hrnet_zoo import HRNetZooError, KeypointSet, PretrainedCfg
from hrnet_zoo.cli import main
from hrnet_zoo.codecs import HeatmapCodec, flip_keypoints
from hrnet_zoo.export import export_onnx
from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS, DEFAULT_SIGMA, MPII_KEYPOINTS, resolve_keypoint_set

SMALL = "hrnet_w18_small_v1"
FISH_NAMES = ["snout", "left_fin", "right_fin", "tail", "l_eye", "r_eye"]


# --- keypoint sets -------------------------------------------------------------------------------

def test_flip_pairs_come_from_left_right_names():
    kset = KeypointSet.from_names(FISH_NAMES, name="fish")
    assert kset.flip_pairs == ((1, 2), (4, 5)) and kset.sigmas == (DEFAULT_SIGMA,) * 6
    assert kset.flip_indices == [0, 2, 1, 3, 5, 4]
    # the built-in sets' pairs are exactly what their names say
    assert set(map(frozenset, KeypointSet.from_names(COCO_KEYPOINTS.keypoint_names).flip_pairs)) == \
        set(map(frozenset, COCO_KEYPOINTS.flip_pairs))
    assert set(map(frozenset, KeypointSet.from_names(MPII_KEYPOINTS.keypoint_names).flip_pairs)) == \
        set(map(frozenset, MPII_KEYPOINTS.flip_pairs))


def test_given_flip_pairs_and_sigmas_win():
    kset = KeypointSet.from_names(FISH_NAMES, flip_pairs=[(1, 2)], sigmas=[0.1] * 6)
    assert kset.flip_pairs == ((1, 2),) and kset.sigmas == (0.1,) * 6


def test_a_set_from_a_coco_annotation_file(tmp_path):
    category = {"id": 1, "name": "fish", "keypoints": FISH_NAMES, "skeleton": [[1, 4], [2, 3]]}  # 1-based
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [category]}))
    for source in (category, path, str(path)):
        kset = KeypointSet.from_coco_category(source)
        assert kset.name == "fish" and kset.skeleton == ((0, 3), (1, 2)) and kset.flip_pairs == ((1, 2), (4, 5))
    assert resolve_keypoint_set(category) == KeypointSet.from_coco_category(category)


@pytest.mark.parametrize("kwargs, match", [
    (dict(names=[]), "at least one"),
    (dict(names=["a", "a"]), "repeats"),
    (dict(names=["a", "b"], sigmas=[0.1]), "sigmas"),
    (dict(names=["a", "b"], sigmas=[0.1, -1]), "positive"),
    (dict(names=["a", "b"], flip_pairs=[(0, 2)]), "out of range"),
    (dict(names=["a", "b"], skeleton=[(0, 5)]), "skeleton"),
])
def test_bad_keypoint_sets_are_refused(kwargs, match):
    names = kwargs.pop("names")
    with pytest.raises(hrnet_zoo.InvalidArgumentError, match=match):
        KeypointSet.from_names(names, **kwargs)


def test_keypoint_set_json_round_trip_and_lookup():
    kset = KeypointSet.from_names(FISH_NAMES, name="fish", skeleton=[(0, 3)])
    assert KeypointSet.from_dict(json.loads(json.dumps(kset.to_dict()))) == kset
    assert resolve_keypoint_set("mpii") is MPII_KEYPOINTS and resolve_keypoint_set(FISH_NAMES).num_keypoints == 6
    with pytest.raises(ValueError, match="unknown keypoint set"):
        resolve_keypoint_set("fish")


def test_flip_keypoints_mirrors_and_swaps():
    points = torch.tensor([[[10.0, 5.0], [20.0, 6.0], [30.0, 7.0]]])
    flipped = flip_keypoints(points, width=100, flip_pairs=[(1, 2)])
    assert flipped.tolist() == [[[89.0, 5.0], [69.0, 7.0], [79.0, 6.0]]]
    assert torch.equal(flip_keypoints(flipped, 100, [(1, 2)]), points)


# --- pretrained_cfg on every model -----------------------------------------------------------------

def test_every_registered_model_has_a_pretrained_cfg():
    with torch.device("meta"):
        for name in hrnet_zoo.list_models():
            cfg = hrnet_zoo.create_model(name).pretrained_cfg
            assert isinstance(cfg, PretrainedCfg) and len(cfg.input_size) == 2, name
            if name.startswith(("hrnet_w", "simplebaseline", "hourglass")) and not name.endswith("_cls"):
                assert cfg.keypoints is COCO_KEYPOINTS and cfg.output_stride == 4, name
            if name.endswith("_cls"):
                assert cfg.num_classes == 1000 and cfg.input_size == (224, 224), name


def test_new_keypoints_set_the_head_and_the_cfg():
    fish = KeypointSet.from_names(FISH_NAMES, name="fish")
    model = hrnet_zoo.create_model(SMALL, keypoints=fish)
    assert model.num_keypoints == 6 and model.pretrained_cfg.keypoints == fish
    assert hrnet_zoo.create_model(SMALL, num_keypoints=16).pretrained_cfg.keypoints is MPII_KEYPOINTS
    assert hrnet_zoo.create_model(SMALL, num_keypoints=5).pretrained_cfg.keypoints is None
    with pytest.raises(ValueError, match="disagrees"):
        hrnet_zoo.create_model(SMALL, keypoints=fish, num_keypoints=17)
    overlaid = hrnet_zoo.create_model(SMALL, pretrained_cfg_overlay={"input_size": (128, 96), "decoder": "udp"})
    assert overlaid.pretrained_cfg.input_size == (128, 96) and overlaid.pretrained_cfg.decoder == "udp"


def test_a_custom_keypoint_set_survives_save_and_load(tmp_path):
    fish = KeypointSet.from_names(FISH_NAMES, name="fish", skeleton=[(0, 3)], sigmas=[0.02, 0.03, 0.03, 0.04, 0.05, 0.05])
    model = hrnet_zoo.create_model(SMALL, keypoints=fish, pretrained_cfg_overlay={"input_size": (128, 96)}).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["pretrained_cfg"]["keypoints"]["keypoint_names"] == FISH_NAMES
    for again in (hrnet_zoo.from_pretrained(str(tmp_path)), hrnet_zoo.create_model(SMALL, pretrained=str(tmp_path)),
                  hrnet_zoo.models.HRNetPose.from_pretrained(str(tmp_path))):
        assert again.pretrained_cfg == model.pretrained_cfg and again.num_keypoints == 6


def test_defaults_come_from_the_cfg_and_explicit_arguments_win():
    model = hrnet_zoo.create_model(SMALL, pretrained_cfg_overlay={"input_size": (96, 64)}).eval()
    fed = []
    model.register_forward_pre_hook(lambda module, args: fed.append(tuple(args[0].shape[-2:])))
    image = np.zeros((120, 100, 3), np.uint8)
    hrnet_zoo.predict_keypoints(model, image, [[10, 10, 40, 60]], flip_test=False)
    hrnet_zoo.predict_keypoints(model, image, [[10, 10, 40, 60]], flip_test=False, input_size=(64, 48))
    assert fed == [(96, 64), (64, 48)]
    codec = HeatmapCodec.for_model(model)
    assert codec.input_size == (96, 64) and codec.heatmap_size == (24, 16) and codec.decoder == "dark"
    assert HeatmapCodec.for_model(model, decoder="udp", sigma=3).sigma == 3.0


def test_a_transposed_size_warns():
    model = hrnet_zoo.create_model(SMALL).eval()
    with pytest.warns(UserWarning, match=r"\(H, W\)"):
        hrnet_zoo.predict_keypoints(model, np.zeros((80, 60, 3), np.uint8), [[5, 5, 30, 40]], input_size=(48, 64),
                                    flip_test=False)
    with pytest.warns(UserWarning, match=r"\(H, W\)"):
        HeatmapCodec.for_model(model, input_size=(192, 256))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HeatmapCodec.for_model(model, input_size=(384, 288))  # same aspect: no warning


def test_codec_sizes_are_height_width():
    codec = HeatmapCodec(input_size=(256, 192), heatmap_size=(64, 48), decoder="argmax")
    targets, _ = codec.encode(torch.tensor([[[100.0, 200.0]]]))
    assert targets.shape == (1, 1, 64, 48)
    coords, _ = codec.decode(targets)
    assert coords[0, 0].tolist() == [100.0, 200.0]
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        HeatmapCodec(input_size=(0, 0))


def test_export_takes_its_size_from_the_cfg(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = hrnet_zoo.create_model(SMALL, pretrained_cfg_overlay={"input_size": (64, 48)})
    model.train()
    export_onnx(model, tmp_path / "m.onnx")
    dims = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[2:]] == [64, 48]
    assert model.training  # the caller's model was not switched to eval


def test_info_shows_the_cfg_of_a_tag(capsys):
    assert main(["info", "w32", "--tag", "coco-384x288", "--no-fvcore", "--json"]) == 0
    cfg = json.loads(capsys.readouterr().out)["pretrained_cfg"]
    assert cfg["input_size"] == [384, 288] and cfg["heatmap_sigma"] == 3.0 and cfg["tag"] == "coco-384x288"
    assert cfg["keypoints"]["name"] == "coco" and cfg["license"] == "MIT"


# --- features_only and classifiers -----------------------------------------------------------------

def test_features_only_takes_out_indices_and_refuses_what_it_does_not_use():
    model = hrnet_zoo.create_model(SMALL, features_only=True, out_indices=(1, 3)).eval()
    with torch.no_grad():
        maps = model(torch.randn(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == model.feature_info.channels() == [32, 128]
    assert model.feature_info.reduction() == [8, 32] and model.feature_info.channels(0) == 32
    modules = dict(model.named_modules())
    assert all(name in modules for name in model.feature_info.module_name())
    resnet = hrnet_zoo.create_model("simplebaseline_r50", features_only=True, out_indices=[-1])
    assert resnet.feature_info.module_name() == ["backbone.layer4"] and resnet.feature_info.reduction() == [32]
    for bad in ({"num_keypoints": 5}, {"out_indice": (0,)}, {"keypoints": "coco"}):
        with pytest.raises(TypeError):
            hrnet_zoo.create_model(SMALL, features_only=True, **bad)
    with pytest.raises(TypeError):
        hrnet_zoo.create_model(SMALL, out_indices=(0,))  # not a features model
    with pytest.raises(ValueError, match="out_indices"):
        hrnet_zoo.create_model(SMALL, features_only=True, out_indices=(0, 4))


def test_a_features_only_model_saves_and_loads(tmp_path):
    model = hrnet_zoo.create_model(SMALL, features_only=True, out_indices=(0, 2)).eval()
    model.save_pretrained(tmp_path)
    again = hrnet_zoo.from_pretrained(str(tmp_path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), again(x)))
    assert type(again).__name__ == "BackboneFeatures" and again.out_indices == (0, 2)


def test_classifier_get_and_reset(tmp_path):
    model = hrnet_zoo.create_model("hrnet_w18_small_v1_cls").eval()
    assert model.get_classifier() is model.head.classifier and model.get_classifier().out_features == 1000
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7) and model.pretrained_cfg.num_classes == 7
    model.save_pretrained(tmp_path)
    assert hrnet_zoo.from_pretrained(str(tmp_path)).num_classes == 7
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), torch.nn.Identity) and model(torch.randn(1, 3, 32, 32)).shape == (1, 2048)


# --- errors ----------------------------------------------------------------------------------------

def test_one_error_hierarchy_with_the_old_builtin_bases():
    for error, builtin in ((hrnet_zoo.UnknownModelError, KeyError), (hrnet_zoo.CheckpointError, RuntimeError),
                           (hrnet_zoo.PretrainedWeightsError, RuntimeError), (hrnet_zoo.ChecksumError, RuntimeError),
                           (hrnet_zoo.UnknownWeightsError, KeyError), (hrnet_zoo.InvalidArgumentError, ValueError)):
        assert issubclass(error, HRNetZooError) and issubclass(error, builtin), error
    with pytest.raises(HRNetZooError, match="did you mean"):
        hrnet_zoo.create_model("hrnet_w33")
    assert not issubclass(hrnet_zoo.LayoutNotRecognized, (KeyError, ValueError))


def test_a_converter_bug_is_not_taken_for_another_layout(monkeypatch):
    from hrnet_zoo.weights.convert import convert_state_dict

    model = hrnet_zoo.create_model("hourglass", num_stacks=1, num_features=16, depth=1)

    def broken(state_dict):
        raise KeyError("a bug inside the converter")

    monkeypatch.setattr(type(model), "checkpoint_layouts", {"broken": broken})
    with pytest.raises(KeyError, match="a bug inside"):
        convert_state_dict(model, model.state_dict())
