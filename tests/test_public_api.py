"""The top level: the few names most users need, the factories as real functions, and a warning for each
name that moved to a subpackage in 0.3."""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import hrnet_zoo
from hrnet_zoo import errors
from hrnet_zoo._registry import _model_entrypoints, list_families

#: The built-in families (fixed, so a family that stops registering fails instead of shrinking the test).
FAMILY_MODULES = ["hrnet_zoo.models.hrnet", "hrnet_zoo.models.simplebaseline", "hrnet_zoo.models.hourglass"]
ESSENTIALS = ["create_model", "list_models", "from_pretrained", "is_model", "register_model", "predict_keypoints",
              "PoseEstimator", "optimize", "KeypointSet", "PretrainedCfg", "count_flops", "count_params",
              "load_checkpoint", "draw_keypoints", "train", "evaluate"]
#: Name → the subpackage it moved to (each was a top-level name in 0.2).
MOVED = {
    "COCO_KEYPOINTS": "hrnet_zoo.pose", "KEYPOINT_SETS": "hrnet_zoo.pose", "MPII_KEYPOINTS": "hrnet_zoo.pose",
    "PoseInstance": "hrnet_zoo.pose", "plot_heatmaps": "hrnet_zoo.pose", "FeatureInfo": "hrnet_zoo.models",
    "HRNetClassifier": "hrnet_zoo.models", "HRNetPose": "hrnet_zoo.models", "HRNetV2": "hrnet_zoo.models",
    "HRNetV2p": "hrnet_zoo.models", "SimpleBaseline": "hrnet_zoo.models", "SimpleBaselineMSDH": "hrnet_zoo.models",
    "StackedHourglass": "hrnet_zoo.models", "LoadResult": "hrnet_zoo.weights", "Runner": "hrnet_zoo.runtime",
    "fuse_conv_bn": "hrnet_zoo.runtime", "TrainConfig": "hrnet_zoo.training", "evaluate_results": "hrnet_zoo.evaluation",
}


def _builtin_factories() -> dict[str, object]:
    return {name: fn for name, fn in _model_entrypoints.items() if fn.__module__ in FAMILY_MODULES}


def test_every_builtin_family_registers():
    assert [f.module for f in list_families() if f.module.startswith("hrnet_zoo.")] == FAMILY_MODULES


@pytest.mark.parametrize("module", FAMILY_MODULES)
def test_a_family_module_lists_exactly_its_factories_in_a_literal_all(module):
    mod = importlib.import_module(module)
    tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
    literal = [node for node in tree.body if isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)]
    assert len(literal) == 1 and isinstance(literal[0].value, ast.List)  # what IDEs and type checkers read
    registered = sorted(n for n, fn in _model_entrypoints.items() if fn.__module__ == module)
    assert registered and sorted(ast.literal_eval(literal[0].value)) == registered


def test_every_factory_is_a_real_top_level_function():
    factories = _builtin_factories()
    assert len(factories) >= 43
    for name, fn in factories.items():
        assert getattr(hrnet_zoo, name) is fn, name
        assert name in hrnet_zoo.__all__
        assert name in vars(hrnet_zoo), f"{name} is not a real attribute of the module"
    from hrnet_zoo import hrnet_w18_small_v1  # noqa: F401  (the IDE-visible form)


def test_the_top_level_is_not_filled_through_globals():
    source = Path(hrnet_zoo.__file__).read_text(encoding="utf-8")
    assert "globals()" not in source


def test_the_top_level_exports_the_essentials_and_every_error():
    error_names = [n for n, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    for name in ESSENTIALS + error_names:
        assert name in hrnet_zoo.__all__ and name in vars(hrnet_zoo), name
    others = set(hrnet_zoo.__all__) - set(ESSENTIALS) - set(error_names) - set(_builtin_factories())
    assert not others, f"more than the essentials at the top level: {sorted(others)}"
    assert len(hrnet_zoo.__all__) == len(set(hrnet_zoo.__all__))


@pytest.mark.parametrize("name", sorted(MOVED))
def test_a_moved_name_warns_naming_its_new_home(name):
    home = importlib.import_module(MOVED[name])
    assert name in home.__all__ and name not in hrnet_zoo.__all__
    with pytest.warns(DeprecationWarning, match=rf"hrnet_zoo\.{name} is deprecated.*use {MOVED[name]}\.{name}") as record:
        old = getattr(hrnet_zoo, name)
    assert old is getattr(home, name)
    assert record[0].filename == __file__  # points at the user's line


def test_from_import_of_a_moved_name_warns_too():
    with pytest.warns(DeprecationWarning, match="use hrnet_zoo.models.HRNetPose"):
        from hrnet_zoo import HRNetPose
    assert HRNetPose is hrnet_zoo.models.HRNetPose


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        hrnet_zoo.no_such_thing  # noqa: B018
    assert not hasattr(hrnet_zoo, "no_such_thing")
