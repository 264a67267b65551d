"""hrnet_zoo: high-resolution backbones for keypoint and dense prediction.

>>> import hrnet_zoo, torch
>>> model = hrnet_zoo.create_model("hrnet_w32").eval()        # or hrnet_zoo.hrnet_w32()
>>> model(torch.randn(1, 3, 256, 192)).shape
torch.Size([1, 17, 64, 48])

Public API:

* models: [`create_model()`][hrnet_zoo._factory.create_model], [`list_models()`][hrnet_zoo._factory.list_models], [`is_model()`][hrnet_zoo._registry.is_model], [`register_model()`][hrnet_zoo._registry.register_model], one
  factory function per registered name (``hrnet_w48`` …) and the model classes;
* weights: [`load_checkpoint()`][hrnet_zoo.weights.convert.load_checkpoint] (official, mmpose, timm, princeton-vl and hrnet_zoo key layouts),
  [`from_pretrained()`][hrnet_zoo.models.base.from_pretrained] (Hub repos and folders written by ``save_pretrained``);
* cost and speed: [`count_params()`][hrnet_zoo.complexity.count_params], [`count_flops()`][hrnet_zoo.complexity.count_flops], [`fuse_conv_bn()`][hrnet_zoo.fuse.fuse_conv_bn], `optimize()`
  (torch, onnxruntime or OpenVINO in fp32/bf16/fp16/int8, chosen by measurement);
* keypoints: `hrnet_zoo.codecs`, [`predict_keypoints()`][hrnet_zoo.pose.inference.predict_keypoints], [`draw_keypoints()`][hrnet_zoo.pose.visualize.draw_keypoints], [`plot_heatmaps()`][hrnet_zoo.pose.visualize.plot_heatmaps];
* fine-tuning: `hrnet_zoo.data` (COCO-format datasets, augmentation), `train()`
  (`hrnet_zoo.training`), `evaluate()` and `evaluate_results()` (`hrnet_zoo.evaluation`,
  COCO keypoint AP by pycocotools).
"""
from hrnet_zoo import codecs
from hrnet_zoo._factory import UnknownModelError, create_model, list_models
from hrnet_zoo._registry import _model_entrypoints, is_model, register_model
from hrnet_zoo.complexity import count_flops, count_params
from hrnet_zoo.errors import DatasetError, HRNetZooError, InvalidArgumentError, LayoutNotRecognized
from hrnet_zoo.evaluation import evaluate, evaluate_results
from hrnet_zoo.features import FeatureInfo
from hrnet_zoo.fuse import fuse_conv_bn
from hrnet_zoo.pose.inference import predict_keypoints
from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS, KEYPOINT_SETS, MPII_KEYPOINTS, KeypointSet
from hrnet_zoo.models import (
    HRNetClassifier,
    HRNetPose,
    HRNetV2,
    HRNetV2p,
    SimpleBaseline,
    SimpleBaselineMSDH,
    StackedHourglass,
)
from hrnet_zoo.models.base import from_pretrained
from hrnet_zoo.pose.estimator import PoseEstimator, PoseInstance
from hrnet_zoo.pretrained_cfg import PretrainedCfg
from hrnet_zoo.runtime import BackendUnavailableError, Runner, UnsupportedPrecisionError, optimize
from hrnet_zoo.training import TrainConfig, TrainingError, train
from hrnet_zoo.pose.visualize import draw_keypoints, plot_heatmaps
from hrnet_zoo.weights import CheckpointError, LoadResult, load_checkpoint
from hrnet_zoo.weights.hub import ChecksumError, PretrainedWeightsError
from hrnet_zoo.weights.manifest import UnknownWeightsError

__version__ = "0.3.0"

# Every registered factory is a top-level function: ``from hrnet_zoo import hrnet_w48``.
globals().update(_model_entrypoints)

__all__ = [
    "BackendUnavailableError",
    "COCO_KEYPOINTS",
    "CheckpointError",
    "ChecksumError",
    "DatasetError",
    "FeatureInfo",
    "HRNetClassifier",
    "HRNetPose",
    "HRNetV2",
    "HRNetV2p",
    "HRNetZooError",
    "InvalidArgumentError",
    "KEYPOINT_SETS",
    "KeypointSet",
    "LayoutNotRecognized",
    "LoadResult",
    "MPII_KEYPOINTS",
    "PoseEstimator",
    "PoseInstance",
    "PretrainedCfg",
    "PretrainedWeightsError",
    "Runner",
    "SimpleBaseline",
    "SimpleBaselineMSDH",
    "StackedHourglass",
    "TrainConfig",
    "TrainingError",
    "UnknownModelError",
    "UnknownWeightsError",
    "UnsupportedPrecisionError",
    "count_flops",
    "count_params",
    "codecs",
    "create_model",
    "draw_keypoints",
    "evaluate",
    "evaluate_results",
    "from_pretrained",
    "fuse_conv_bn",
    "is_model",
    "list_models",
    "load_checkpoint",
    "optimize",
    "plot_heatmaps",
    "predict_keypoints",
    "register_model",
    "train",
    *sorted(_model_entrypoints),
]


def __getattr__(name: str):  # the deprecated features classes (HRNetFeatures, ResNetFeatures), with a warning
    from hrnet_zoo import models

    return getattr(models, name)
