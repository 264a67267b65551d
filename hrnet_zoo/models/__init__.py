"""Importing this package registers every model family."""
from hrnet_zoo.models import hrnet  # noqa: F401
from hrnet_zoo.models.hrnet import HRNetClassifier, HRNetPose, HRNetV2, HRNetV2p

__all__ = ["HRNetClassifier", "HRNetPose", "HRNetV2", "HRNetV2p"]
