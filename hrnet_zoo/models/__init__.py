"""The model families and their classes. Importing this package registers each built-in family through
`hrnet_zoo.models.factories` (a family is one module plus its lines there). The factories are exported
by their family module, by ``factories`` and by the top level (``hrnet_zoo.hrnet_w32``); not here, where
``hourglass`` names the family module."""
from hrnet_zoo.models import factories  # noqa: F401, I001  (registers the built-in families)
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
