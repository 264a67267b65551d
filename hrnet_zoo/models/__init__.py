"""Importing this package registers every model family."""
from hrnet_zoo.models.base import PoseModelMixin, TrainingForward
from hrnet_zoo.models.hourglass import StackedHourglass
from hrnet_zoo.models.hrnet import HRNetClassifier, HRNetFeatures, HRNetPose, HRNetV2, HRNetV2p
from hrnet_zoo.models.simplebaseline import ResNetFeatures, SimpleBaseline, SimpleBaselineMSDH

__all__ = ["HRNetClassifier", "HRNetFeatures", "HRNetPose", "HRNetV2", "HRNetV2p", "ResNetFeatures", "SimpleBaseline", "SimpleBaselineMSDH",
           "StackedHourglass", "PoseModelMixin", "TrainingForward"]
