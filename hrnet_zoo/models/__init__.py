"""The model families. Importing this package registers each of them: a family is one module
(factories, weights defaults, checkpoint layouts, CLI aliases, what FLOP counting needs) and one
import line below."""
# One line per family; the order is the order of docs/zoo.md's sections and of the CLI's alias prefixes.
from hrnet_zoo.models import hrnet  # noqa: F401, I001
from hrnet_zoo.models import simplebaseline  # noqa: F401
from hrnet_zoo.models import hourglass  # noqa: F401
from hrnet_zoo.models import _deprecated  # noqa: F401  (old features classes, for folders saved with them)
from hrnet_zoo.models._features import BackboneFeatures, register_features_backbone
from hrnet_zoo.models.base import ClassifierMixin, PoseModelMixin, TrainingForward, ZooModel
from hrnet_zoo.models.hourglass import StackedHourglass
from hrnet_zoo.models.hrnet import HRNetClassifier, HRNetPose, HRNetV2, HRNetV2p
from hrnet_zoo.models.simplebaseline import SimpleBaseline, SimpleBaselineMSDH

__all__ = ["BackboneFeatures", "ClassifierMixin", "HRNetClassifier", "HRNetPose", "HRNetV2", "HRNetV2p", "SimpleBaseline",
           "SimpleBaselineMSDH", "StackedHourglass", "PoseModelMixin", "TrainingForward", "ZooModel",
           "register_features_backbone"]


__getattr__ = _deprecated.deprecated_attributes(__name__, *_deprecated.REPLACED)
