"""hrnet_zoo: high-resolution backbones for keypoint and dense prediction.

>>> import hrnet_zoo, torch
>>> model = hrnet_zoo.create_model("hrnet_w32").eval()        # or hrnet_zoo.hrnet_w32()
>>> model(torch.randn(1, 3, 256, 192)).shape
torch.Size([1, 17, 64, 48])

The top level holds what most users need:

* models: [`create_model()`][hrnet_zoo._factory.create_model], [`list_models()`][hrnet_zoo._factory.list_models],
  [`is_model()`][hrnet_zoo._registry.is_model], [`register_model()`][hrnet_zoo._registry.register_model],
  [`from_pretrained()`][hrnet_zoo.models.base.from_pretrained], [`load_checkpoint()`][hrnet_zoo.weights.convert.load_checkpoint]
  and one factory function per registered name (``hrnet_w48`` …);
* keypoints: [`predict_keypoints()`][hrnet_zoo.pose.inference.predict_keypoints], `PoseEstimator`,
  [`draw_keypoints()`][hrnet_zoo.pose.visualize.draw_keypoints], `KeypointSet`, `PretrainedCfg`;
* cost and speed: [`count_params()`][hrnet_zoo.complexity.count_params],
  [`count_flops()`][hrnet_zoo.complexity.count_flops], `optimize()`;
* fine-tuning: `train()` and `evaluate()`;
* the errors: [`HRNetZooError`][hrnet_zoo.errors.HRNetZooError] and its children.

The subpackages export the rest: `hrnet_zoo.models` (the model classes, `FeatureInfo`),
`hrnet_zoo.pose` (keypoint sets, `PoseInstance`, `plot_heatmaps`), `hrnet_zoo.codecs`, `hrnet_zoo.data`,
`hrnet_zoo.training` (`TrainConfig`), `hrnet_zoo.evaluation` (`evaluate_results`), `hrnet_zoo.runtime`
(`Runner`, `fuse_conv_bn`), `hrnet_zoo.weights` (`LoadResult`), `hrnet_zoo.detect`, `hrnet_zoo.video`.
Names that lived here before 0.3 still work, with a DeprecationWarning naming their new home, until 0.4.
"""
import warnings

from hrnet_zoo import codecs  # noqa: F401  (hrnet_zoo.codecs, as before)
from hrnet_zoo._factory import create_model, list_models
from hrnet_zoo._registry import _model_entrypoints, is_model, register_model  # noqa: F401
from hrnet_zoo.complexity import count_flops, count_params
from hrnet_zoo.errors import (AccuracyCheckError, ArgumentTypeError, BackendUnavailableError, CheckpointError,
                              ChecksumError, CorruptCacheError, DatasetError, DetectorError, HRNetZooError,
                              InvalidArgumentError, InvalidConfigError, LayoutNotRecognized, MissingDependencyError,
                              NonFiniteOutputError, OfflineError, OutputWriteError, PretrainedWeightsError,
                              RegistryError, TrainingError, UnknownModelError, UnknownWeightsError,
                              UnsupportedPrecisionError, VideoError, WeightsEntryError)
from hrnet_zoo.evaluation import evaluate
from hrnet_zoo.models import _deprecated as _deprecated_models
from hrnet_zoo.models.base import from_pretrained
# The model entrypoints as real functions, from the one module that registers the built-in families.
import hrnet_zoo.models.factories as _factories
from hrnet_zoo.models.factories import *  # noqa: F401, F403
from hrnet_zoo.pose.estimator import PoseEstimator
from hrnet_zoo.pose.inference import predict_keypoints
from hrnet_zoo.pose.keypoint_set import KeypointSet
from hrnet_zoo.pose.visualize import draw_keypoints
from hrnet_zoo.pretrained_cfg import PretrainedCfg
from hrnet_zoo.runtime import optimize
from hrnet_zoo.training import train
from hrnet_zoo.weights import load_checkpoint

__version__ = "0.3.0"

__all__ = [
    "create_model", "list_models", "is_model", "register_model", "from_pretrained", "load_checkpoint",
    "predict_keypoints", "PoseEstimator", "draw_keypoints", "KeypointSet", "PretrainedCfg",
    "count_flops", "count_params", "optimize", "train", "evaluate",
    "HRNetZooError", "AccuracyCheckError", "ArgumentTypeError", "BackendUnavailableError", "CheckpointError",
    "ChecksumError", "CorruptCacheError", "DatasetError", "DetectorError", "InvalidArgumentError",
    "InvalidConfigError", "LayoutNotRecognized", "MissingDependencyError", "NonFiniteOutputError", "OfflineError",
    "OutputWriteError", "PretrainedWeightsError", "RegistryError", "TrainingError", "UnknownModelError",
    "UnknownWeightsError", "UnsupportedPrecisionError", "VideoError", "WeightsEntryError",
]
__all__ += _factories.__all__

#: Names that left the top level in 0.3 → their home; reachable here with a warning until 0.4.
_MOVED = {
    "COCO_KEYPOINTS": "hrnet_zoo.pose", "KEYPOINT_SETS": "hrnet_zoo.pose", "MPII_KEYPOINTS": "hrnet_zoo.pose",
    "PoseInstance": "hrnet_zoo.pose", "plot_heatmaps": "hrnet_zoo.pose",
    "FeatureInfo": "hrnet_zoo.models", "HRNetClassifier": "hrnet_zoo.models", "HRNetPose": "hrnet_zoo.models",
    "HRNetV2": "hrnet_zoo.models", "HRNetV2p": "hrnet_zoo.models", "SimpleBaseline": "hrnet_zoo.models",
    "SimpleBaselineMSDH": "hrnet_zoo.models", "StackedHourglass": "hrnet_zoo.models",
    "LoadResult": "hrnet_zoo.weights", "Runner": "hrnet_zoo.runtime", "fuse_conv_bn": "hrnet_zoo.runtime",
    "TrainConfig": "hrnet_zoo.training", "evaluate_results": "hrnet_zoo.evaluation",
}


def __getattr__(name: str):
    """The names of ``_MOVED`` (and the 0.2 features classes), each with a DeprecationWarning naming its new home."""
    import importlib

    if name in _MOVED:
        warnings.warn(f"hrnet_zoo.{name} is deprecated and will be removed in 0.4; use {_MOVED[name]}.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    if name in _deprecated_models.REPLACED:  # the 0.2 features classes
        _deprecated_models.warn_deprecated(name, stacklevel=3)
        return vars(_deprecated_models)[name]
    raise AttributeError(f"module 'hrnet_zoo' has no attribute {name!r}")
