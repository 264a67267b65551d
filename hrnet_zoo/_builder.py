"""Shared construction path of every registered factory: build (or cut to features), load weights,
attach the ``pretrained_cfg``."""
from __future__ import annotations

from typing import Any, Mapping

from hrnet_zoo._renamed import take_renamed
from hrnet_zoo.errors import ArgumentTypeError, InvalidArgumentError
from hrnet_zoo.models._features import BackboneFeatures
from hrnet_zoo.pose.keypoint_set import resolve_keypoint_set
from hrnet_zoo.models.base import ZooModel, zoo_model_classes
from hrnet_zoo.pretrained_cfg import PretrainedCfg
from hrnet_zoo.weights.pretrained import HEAD_SIZE_ARGUMENTS, load_resolved, resolve_pretrained


def build_model(model_cls: type[ZooModel], variant: str, pretrained: bool | str = False, *,
                features: str | None = None, features_args: Mapping[str, Any] | None = None,
                features_only: bool = False, keypoints=None, pretrained_cfg_overlay: Mapping[str, Any] | None = None,
                **kwargs) -> ZooModel:
    """Build ``model_cls(**kwargs)`` for the registered name ``variant``.

    Args:
        pretrained: see [`hrnet_zoo.create_model()`][hrnet_zoo._factory.create_model].
        features: the features backbone (registered with
            [`register_features_backbone()`][hrnet_zoo.models._features.register_features_backbone]) that
            ``features_only=True`` builds, with ``features_args`` (the variant's, e.g. its width) under the
            caller's ``kwargs``; None: the model has no features-only form.
        features_only: build a [`BackboneFeatures`][hrnet_zoo.models._features.BackboneFeatures] instead, the backbone
            alone, whose forward returns the list of multi-resolution maps (``out_indices`` picks them)
            and which carries ``feature_info``. Any argument the backbone does not take raises ``TypeError``.
        keypoints: the keypoint set of a pose model (sets ``num_keypoints``, and ``pretrained_cfg.keypoints``).
        pretrained_cfg_overlay: [`PretrainedCfg`][hrnet_zoo.pretrained_cfg.PretrainedCfg] fields that replace the built ones.
    """
    take_renamed(kwargs, "num_joints", "num_keypoints", variant, stacklevel=4)  # 0.2's name, deprecated
    keypoint_set = None if keypoints is None else resolve_keypoint_set(keypoints)
    if keypoint_set is not None:
        if kwargs.setdefault("num_keypoints", keypoint_set.num_keypoints) != keypoint_set.num_keypoints:
            raise InvalidArgumentError(f"num_keypoints={kwargs['num_keypoints']} disagrees with the "
                                       f"{keypoint_set.num_keypoints} keypoints of {keypoint_set.name!r}")
    spec = resolve_pretrained(variant, pretrained, model_cls, zoo_model_classes(),
                              new_head=any(k in kwargs for k in HEAD_SIZE_ARGUMENTS), features_only=features_only)
    if pretrained:
        model_cls.check_config(spec.model_kwargs, str(pretrained))  # a saved config.json is anyone's
    if features_only:
        if features is None:
            raise InvalidArgumentError(f"{variant} has no features_only form")
        if keypoint_set is not None:
            raise ArgumentTypeError("features_only models have no keypoints (they output feature maps)")
        out_indices = kwargs.pop("out_indices", None)
        model = BackboneFeatures(features, {**(features_args or {}), **kwargs}, out_indices)
        default_cfg = PretrainedCfg(input_size=model_cls.default_input_size)
    else:
        model = model_cls(**{**spec.model_kwargs, **kwargs})
        default_cfg = model.default_pretrained_cfg()
    if pretrained:
        model.load_result = load_resolved(model, spec)
        _reset_fresh_head(model, model.load_result.reinitialized_layers)
    cfg = spec.pretrained_cfg(default_cfg)
    num_keypoints = getattr(model, "num_keypoints", None)
    if num_keypoints is not None:
        cfg = cfg.with_num_keypoints(num_keypoints)  # a new head: the weights' keypoints no longer apply
    if getattr(model, "num_classes", None) != cfg.num_classes and "num_classes" in kwargs:
        cfg = cfg.replace(num_classes=model.num_classes, class_labels=None)
    if keypoint_set is not None:
        cfg = cfg.replace(keypoints=keypoint_set)
    if pretrained_cfg_overlay:
        cfg = cfg.replace(**pretrained_cfg_overlay)
    model.pretrained_cfg = cfg
    return model


def _reset_fresh_head(model: ZooModel, fresh_layers) -> None:
    """The official initialisation for a pose model's prediction layers that the weights did not fill."""
    if not hasattr(model, "reset_head"):
        return
    fresh = tuple(fresh_layers)
    if any(name == layer or name.startswith(layer + ".") for name in model.prediction_layers for layer in fresh):
        model.reset_head(model.num_keypoints)
