"""config.json arguments are checked (type and range) before any model is built from them."""
from __future__ import annotations

import inspect
import json

import pytest

import hrnet_zoo
from hrnet_zoo.weights.config import InvalidConfigError, validate_model_config
from hrnet_zoo.models.base import zoo_model_classes
from hrnet_zoo.weights.pretrained import PretrainedWeightsError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    hrnet_zoo.create_model("hrnet_w18_small_v1").save_pretrained(folder)
    return folder


def with_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize("changes, message", [
    ({"num_keypoints": 10**8}, "num_keypoints must be an integer from 1 to 1000, got 100000000"),
    ({"num_keypoints": "17"}, "num_keypoints must be an integer"),
    ({"num_keypoints": 17.0}, "num_keypoints must be an integer"),
    ({"num_keypoints": [17]}, "num_keypoints must be an integer"),
    ({"num_keypoints": True}, "num_keypoints must be an integer"),
    ({"in_chans": 0}, "in_chans must be an integer from 1 to 64"),
    ({"final_conv_kernel": 2}, "final_conv_kernel must be one of 1, 3"),
    ({"width": "w1000"}, "width must be one of 'w18_small_v1'"),
    ({"stride": 2}, "HRNetPose takes no argument 'stride'"),
])
def test_bad_config_is_refused_before_building(saved, tmp_path, changes, message):
    (tmp_path / "config.json").write_bytes((saved / "config.json").read_bytes())
    (tmp_path / "model.safetensors").symlink_to(saved / "model.safetensors")
    with_config(tmp_path, **changes)
    loaders = [lambda: hrnet_zoo.from_pretrained(str(tmp_path)),
               lambda: hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained=str(tmp_path))]
    if "stride" not in changes:  # the class's own from_pretrained (huggingface_hub) drops unknown keys itself
        loaders.append(lambda: hrnet_zoo.models.HRNetPose.from_pretrained(str(tmp_path)))
    for load in loaders:
        with pytest.raises(InvalidConfigError, match="config.json of .*" + message.replace("[", "\\[")):
            load()


def test_invalid_config_error_is_a_value_error_and_a_weights_error():
    assert issubclass(InvalidConfigError, ValueError) and issubclass(InvalidConfigError, PretrainedWeightsError)


@pytest.mark.parametrize("config, message", [
    ({"architecture": "SimpleBaseline", "depth": 51}, "depth must be one of 18, 34, 50, 101, 152"),
    ({"architecture": "StackedHourglass", "num_stacks": 100}, "num_stacks must be an integer from 1 to 16"),
    ({"architecture": "HRNetClassifier", "num_classes": 10**6}, "num_classes must be an integer from 1 to 100000"),
    ({"architecture": "HRNetV2", "num_classes": "7"}, "num_classes must be an integer from 1 to 100000, or null"),
    ({"architecture": "SimpleBaseline", "num_deconv_kernels": [4, 5]}, "num_deconv_kernels must be a list"),
    ({"architecture": "SimpleBaseline", "num_deconv_filters": [10**6]}, "num_deconv_filters must be a list"),
])
def test_every_family_has_ranges(config, message):
    with pytest.raises(InvalidConfigError, match=message):
        zoo_model_classes()[config.pop("architecture")].check_config(config, "x")


def test_valid_and_foreign_configs_pass_unchanged():
    assert hrnet_zoo.models.HRNetV2.check_config({"num_classes": None}, "x")["num_classes"] is None
    timm = {"architecture": "hrnet_w18_small", "num_classes": 10**6, "pretrained_cfg": {}}
    assert validate_model_config(timm, None, "x") is timm


def test_every_constructor_argument_has_a_rule():
    for name, cls in zoo_model_classes().items():
        if "__init__" not in vars(cls):  # an abstract base (FeaturesModel): nothing to build
            continue
        parameters = list(inspect.signature(cls.__init__).parameters)[1:]
        assert sorted(cls.config_rules()) == sorted(parameters), name
