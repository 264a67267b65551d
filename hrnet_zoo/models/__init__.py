"""Importing this package registers every model family."""
from hrnet_zoo.models.hourglass import StackedHourglass
from hrnet_zoo.models.hrnet import HRNetClassifier, HRNetPose, HRNetV2, HRNetV2p
from hrnet_zoo.models.simplebaseline import SimpleBaseline, SimpleBaselineMSDH

__all__ = ["HRNetClassifier", "HRNetPose", "HRNetV2", "HRNetV2p", "SimpleBaseline", "SimpleBaselineMSDH",
           "StackedHourglass"]
