"""Base class of every hrnet_zoo model, and [`from_pretrained()`][hrnet_zoo.models.base.from_pretrained] for any of them.

Models are plain ``nn.Module``s whose constructor arguments are JSON values, so huggingface_hub's
``PyTorchModelHubMixin`` can write them to ``config.json`` and rebuild the model from it
(``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``). ``config.json`` also holds the
model's [`PretrainedCfg`][hrnet_zoo.pretrained_cfg.PretrainedCfg] (input size, normalisation, keypoint set …), which comes
back with the weights.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from hrnet_zoo._renamed import accepts_num_joints, upgrade_saved_config, warn_renamed
from hrnet_zoo.errors import InvalidArgumentError
from hrnet_zoo.features import FeatureInfo
from hrnet_zoo.heads.heatmap import init_prediction_layer
from hrnet_zoo.losses import JointsMSELoss
from hrnet_zoo.pretrained_cfg import DEFAULT_INPUT_SIZE, PretrainedCfg, pose_cfg
from hrnet_zoo.weights.config import Bounds, Rule, rules_from_signature, validate_model_config
from hrnet_zoo.weights.convert import load_checkpoint
from hrnet_zoo.weights.hub import PretrainedWeightsError
from hrnet_zoo.weights.pretrained import parse_hub_spec, read_zoo_config, zoo_weights_file

StateDict = dict
#: A converter from another repository's key layout to hrnet_zoo's: state dict → state dict. It raises
#: [`LayoutNotRecognized`][hrnet_zoo.errors.LayoutNotRecognized] for a state dict that is not in its layout.
LayoutConverter = Callable[[StateDict], StateDict]


class ZooModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="hrnet_zoo",
    repo_url="https://github.com/hrnet-zoo/hrnet_zoo",
    tags=["keypoint-detection", "hrnet"],
):
    """Adds hub save/load, ``pretrained_cfg`` and the description of foreign checkpoint layouts to ``nn.Module``."""

    #: Key layouts of other repositories this model can load, name → converter.
    #: hrnet_zoo's own layout is always tried too (see [`hrnet_zoo.load_checkpoint()`][hrnet_zoo.weights.convert.load_checkpoint]).
    checkpoint_layouts: ClassVar[dict[str, LayoutConverter]] = {}
    #: Module names (prefixes) of the layers whose size follows ``num_keypoints`` / ``num_classes``: the
    #: layers a checkpoint of another keypoint or class count cannot fill.
    prediction_layers: ClassVar[tuple[str, ...]] = ()
    #: A backbone-only model (``features_only=True``): checkpoints of full models load into it partially.
    features_only: ClassVar[bool] = False
    #: The ``(H, W)`` of the family's usual input, the default ``pretrained_cfg.input_size``.
    default_input_size: ClassVar[tuple[int, int]] = DEFAULT_INPUT_SIZE
    #: Ranges of the constructor arguments where the defaults of `hrnet_zoo.weights.config` do not fit
    #: (name → ``Bounds(low, high, max_length)`` or ``(low, high)``); the type comes from the annotation.
    config_bounds: ClassVar[dict[str, Bounds | tuple]] = {}
    #: What loading weights did (a `LoadResult`: layout, skipped keys, layers left fresh), set by
    #: ``create_model(pretrained=...)`` and ``from_pretrained``; None for a model built without weights.
    load_result = None

    @classmethod
    def config_rules(cls) -> dict[str, Rule]:
        """A rule (type and sane range) for every constructor argument, from the constructor's signature
        and ``config_bounds``; checked before a model is built from a ``config.json``."""
        cached = cls.__dict__.get("_config_rules_cache")
        if cached is None:
            cached = rules_from_signature(cls.__init__, cls.config_bounds, owner=cls.__name__)
            cls._config_rules_cache = cached
        return cached

    @classmethod
    def check_config(cls, config: dict, source: str) -> dict:
        """``config`` when each constructor argument in it passes ``config_rules()``; else an
        ``InvalidConfigError`` naming ``source``, the argument and the value."""
        config = upgrade_saved_config(config)  # 0.2's num_joints: file data, read without a warning
        return validate_model_config({**config, "architecture": cls.__name__}, cls.config_rules(), source)

    @property
    def pretrained_cfg(self) -> PretrainedCfg:
        """How to use this model: input size, normalisation, keypoint set, decoder, weight source."""
        cfg = self.__dict__.get("_pretrained_cfg")
        return cfg if cfg is not None else self.default_pretrained_cfg()

    @pretrained_cfg.setter
    def pretrained_cfg(self, cfg: PretrainedCfg) -> None:
        if not isinstance(cfg, PretrainedCfg):
            raise InvalidArgumentError(f"pretrained_cfg must be a PretrainedCfg, got {type(cfg).__name__}")
        self.__dict__["_pretrained_cfg"] = cfg

    def default_pretrained_cfg(self) -> PretrainedCfg:
        """The family's defaults for this configuration (overridden per family)."""
        return PretrainedCfg(input_size=self.default_input_size)

    def forward(self, x: torch.Tensor):
        """N×in_chans×H×W → ``forward_head(forward_features(x))``: a family defines those two (shapes in
        their docstrings), or ``forward`` itself."""
        return self.forward_head(self.forward_features(x))

    def save_pretrained(self, save_directory: str | Path, *, config: dict | None = None, **kwargs):
        """Write ``config.json`` (constructor arguments, ``architecture`` — the class name that
        [`hrnet_zoo.from_pretrained()`][hrnet_zoo.models.base.from_pretrained] rebuilds — and ``pretrained_cfg``) and ``model.safetensors``;
        see the mixin for ``push_to_hub``."""
        base = (self._hub_mixin_config or {}) if config is None else config
        config = {**base, "architecture": type(self).__name__, "pretrained_cfg": self.pretrained_cfg.to_dict()}
        return super().save_pretrained(save_directory, config=config, **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs):
        # Unlike the mixin's default (strict=False, unverified), weights must fit and Hub files are
        # checked against the sha256 the Hub reports for them.
        hub_kwargs = dict(token=token, cache_dir=cache_dir, force_download=force_download,
                          local_files_only=local_files_only)
        saved = read_zoo_config(model_id, revision, **hub_kwargs)
        if "num_keypoints" in saved and "num_keypoints" in cls.config_rules():
            model_kwargs.setdefault("num_keypoints", saved["num_keypoints"])  # the mixin drops 0.2's num_joints
        cls.check_config(model_kwargs, model_id)  # the mixin read them from config.json: anyone's
        model = cls(**model_kwargs)
        path = zoo_weights_file(model_id, revision, **hub_kwargs)
        model.load_result = load_checkpoint(model, path, strict=strict)
        saved_cfg = saved.get("pretrained_cfg")
        if saved_cfg:
            model.pretrained_cfg = PretrainedCfg.from_dict(saved_cfg)
        return model.to(map_location).eval()


class PoseModelMixin:
    """The training objective and the fresh head of a heatmap pose model (mixed into a `ZooModel`).

    A family gets, for free: ``forward_train`` (the heatmaps its loss supervises; by default the
    final ones), ``loss`` (``criterion`` summed over them) and ``reset_head``. Families with
    intermediate supervision override ``forward_train`` only. The class declares ``num_keypoints`` (a
    constructor argument and attribute) and ``prediction_layers``; ``head_layers`` (default:
    ``prediction_layers``) are the modules rebuilt when the keypoint count changes, for heads whose
    inner widths follow it. A subclass's constructor also takes 0.2's ``num_joints=`` (deprecated).
    """

    head_layers: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        if "__init__" in cls.__dict__ and not hasattr(cls.__init__, "__wrapped__"):
            cls.__init__ = accepts_num_joints(cls.__dict__["__init__"])  # before the hub mixin reads the signature
        super().__init_subclass__(**kwargs)

    @property
    def num_joints(self) -> int:
        """Deprecated (removed in 0.4): ``num_keypoints``."""
        warn_renamed("num_joints", "num_keypoints", type(self).__name__, stacklevel=2)
        return self.num_keypoints

    def default_pretrained_cfg(self) -> PretrainedCfg:
        """A heatmap model's defaults: the keypoint set of ``num_keypoints`` (COCO for 17, MPII for 16),
        stride-4 heatmaps, ImageNet normalisation, the family's ``default_input_size``."""
        return pose_cfg(self.num_keypoints, self.default_input_size)

    @property
    def criterion(self) -> nn.Module:
        """The loss of one heatmap prediction: [`JointsMSELoss`][hrnet_zoo.losses.JointsMSELoss] with target weights."""
        return JointsMSELoss(use_target_weight=True)

    def forward_train(self, images: torch.Tensor) -> list[torch.Tensor]:
        """N×in_chans×H×W → the heatmaps ``loss`` supervises, each N×K×h×w (the target's size): here the
        final heatmaps alone."""
        return [self(images)]

    def loss(self, outputs: torch.Tensor | Sequence[torch.Tensor], targets: torch.Tensor,
             target_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of ``criterion`` over ``outputs`` (from ``forward_train``; one tensor is taken as a list of one).

        ``targets`` N×K×h×w, ``target_weight`` N×K (or N×K×1) → a scalar. Outputs are compared in
        float32, so that a forward under fp16/bf16 autocast still gets a float32 loss.
        """
        outputs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        if not outputs:
            raise InvalidArgumentError("loss needs at least one heatmap prediction (outputs is empty)")
        criterion = self.criterion
        losses = [criterion(output.float(), targets, target_weight) for output in outputs]
        return torch.stack(losses).sum()

    def reset_head(self, num_keypoints: int) -> None:
        """A fresh head for ``num_keypoints`` heatmaps, like ``reset_classifier``: the prediction layers get
        the official initialisation (weights N(0, 0.001²), biases 0); every other weight is kept.

        For another keypoint count the ``head_layers`` are rebuilt first (on the model's device and
        dtype), and ``num_keypoints``, the saved config and ``pretrained_cfg`` follow it.
        """
        if isinstance(num_keypoints, bool) or not isinstance(num_keypoints, int) or num_keypoints < 1:
            raise InvalidArgumentError(f"num_keypoints must be a positive integer, got {num_keypoints!r}")
        if num_keypoints != self.num_keypoints:
            self._rebuild_head(num_keypoints)
        for name in self.prediction_layers:
            init_prediction_layer(self.get_submodule(name))

    def _rebuild_head(self, num_keypoints: int) -> None:
        config = {k: v for k, v in (self._hub_mixin_config or {}).items()
                  if k not in ("architecture", "pretrained_cfg")}
        fresh = type(self)(**{**config, "num_keypoints": num_keypoints})
        reference = next(self.parameters())
        for name in self.head_layers or self.prediction_layers:
            parent_name, _, child = name.rpartition(".")
            layer = fresh.get_submodule(name).to(reference.device, reference.dtype).train(self.training)
            setattr(self.get_submodule(parent_name) if parent_name else self, child, layer)
        for module in self.modules():  # heads remember their size too
            if isinstance(module.__dict__.get("num_keypoints"), int):
                module.num_keypoints = num_keypoints
        self._hub_mixin_config = {**config, "num_keypoints": num_keypoints}
        self.pretrained_cfg = self.pretrained_cfg.with_num_keypoints(num_keypoints)


class ClassifierMixin:
    """``get_classifier`` / ``reset_classifier`` (as in timm) of a classification model (mixed into a
    `ZooModel`) whose final linear layer is the module ``classifier_layer``, fed pooled features of
    ``num_features`` channels."""

    classifier_layer: ClassVar[str] = "head.classifier"

    def get_classifier(self) -> nn.Module:
        """The final linear layer (``nn.Identity`` after ``reset_classifier(0)``)."""
        return self.get_submodule(self.classifier_layer)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` (0: none, ``forward`` returns the pooled features);
        ``num_classes``, the saved config and ``pretrained_cfg`` follow it."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise InvalidArgumentError(f"num_classes must be a non-negative integer, got {num_classes!r}")
        self.num_classes = num_classes
        parent, _, child = self.classifier_layer.rpartition(".")
        layer = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        setattr(self.get_submodule(parent) if parent else self, child, layer)
        if self._hub_mixin_config is not None:  # saved config.json rebuilds the new head
            self._hub_mixin_config = {**self._hub_mixin_config, "num_classes": num_classes}
        self.pretrained_cfg = self.pretrained_cfg.replace(num_classes=num_classes, class_labels=None)


class TrainingForward(nn.Module):
    """Wraps a pose model so that its ``forward`` is the model's ``forward_train``: what
    DistributedDataParallel (which only hooks ``forward``) must wrap for a training step.

    ``forward(images: N×C×H×W)`` → ``model.forward_train(images)``; parameters are the model's.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.forward_train(images)


def zoo_model_classes() -> dict[str, type[ZooModel]]:
    """Every imported ZooModel subclass by class name (what config.json's ``architecture`` names)."""
    found, pending = {}, [ZooModel]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def from_pretrained(repo_or_dir: str, *, revision: str | None = None, **kwargs) -> ZooModel:
    """Rebuild whichever architecture ``config.json`` names and load ``model.safetensors``.

    Args:
        repo_or_dir: ``"org/repo"`` (optionally ``"hf-hub:org/repo@rev"``) or a folder from ``save_pretrained``.
        **kwargs: ``token``, ``cache_dir``, ``force_download``, ``local_files_only``, ``map_location``,
            and constructor overrides, passed to ``Class.from_pretrained``.
    """
    hub_keys = ("token", "cache_dir", "force_download", "local_files_only")
    config = read_zoo_config(repo_or_dir, revision, **{k: kwargs[k] for k in hub_keys if k in kwargs})
    architecture = config.get("architecture")
    classes = zoo_model_classes()
    if architecture not in classes:
        raise PretrainedWeightsError(
            f"config.json of {repo_or_dir} names architecture {architecture!r}, which hrnet_zoo does not know "
            f"(known: {', '.join(sorted(classes))}); load it with the model class's from_pretrained instead")
    classes[architecture].check_config(config, repo_or_dir)  # every key: the mixin would drop unknown ones silently
    if not os.path.isdir(repo_or_dir):
        repo_or_dir, spec_revision = parse_hub_spec(repo_or_dir)
        revision = revision or spec_revision
    return classes[architecture].from_pretrained(repo_or_dir, revision=revision, **kwargs)


class FeaturesModel(ZooModel):
    """Base of the ``features_only`` models: ``self.backbone`` returns every map, ``out_indices`` picks some.

    Subclasses build ``self.backbone`` (whose ``feature_info`` lists its maps, module names relative to
    it) and call `_select_features()`. Checkpoints of the full models load into the backbone.
    """

    features_only = True

    def _select_features(self, out_indices) -> None:
        info = [{**f, "module": f"backbone.{f['module']}"} for f in self.backbone.feature_info]
        self.feature_info = FeatureInfo(info, out_indices)
        self.out_indices = self.feature_info.out_indices

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N×in_chans×H×W → the maps at ``out_indices`` (shapes in ``feature_info``)."""
        features = self.backbone(x)
        return [features[i] for i in self.out_indices]
