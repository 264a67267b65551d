"""The model families and their classes. Importing this package registers each family: a family is one
module (factories listed in its literal ``__all__``, weights defaults, checkpoint layouts, CLI aliases,
what FLOP counting needs) and one import line below. The factories themselves are exported by the
family module and by the top level (``hrnet_zoo.hrnet_w32``); not here, where ``hourglass`` names the
family module."""
# One line per family; the order is the order of docs/zoo.md's sections and of the CLI's alias prefixes.
from hrnet_zoo.models import hrnet  # noqa: F401, I001
from hrnet_zoo.models import simplebaseline  # noqa: F401
from hrnet_zoo.models import hourglass  # noqa: F401
from hrnet_zoo.models import _deprecated  # noqa: F401  (old features classes, for folders saved with them)
from hrnet_zoo.features import FeatureInfo
from hrnet_zoo.models._features import BackboneFeatures, register_features_backbone
from hrnet_zoo.models.base import ClassifierMixin, PoseModelMixin, TrainingForward, ZooModel
from hrnet_zoo.models.hourglass import StackedHourglass
from hrnet_zoo.models.hrnet import HRNetClassifier, HRNetPose, HRNetV2, HRNetV2p
from hrnet_zoo.models.simplebaseline import SimpleBaseline, SimpleBaselineMSDH

__all__ = ["BackboneFeatures", "ClassifierMixin", "FeatureInfo", "HRNetClassifier", "HRNetPose", "HRNetV2", "HRNetV2p",
           "SimpleBaseline", "SimpleBaselineMSDH", "StackedHourglass", "PoseModelMixin", "TrainingForward", "ZooModel",
           "register_features_backbone"]


__getattr__ = _deprecated.deprecated_attributes(__name__, *_deprecated.REPLACED)
