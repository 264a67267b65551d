"""Base class of every hrnet_zoo model.

Models are plain ``nn.Module``s whose constructor arguments are JSON values, so huggingface_hub's
``PyTorchModelHubMixin`` can write them to ``config.json`` and rebuild the model from it
(``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar

from huggingface_hub import PyTorchModelHubMixin
from torch import nn

StateDict = dict
#: A converter from another repository's key layout to hrnet_zoo's: state dict → state dict.
LayoutConverter = Callable[[StateDict], StateDict]


class ZooModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="hrnet_zoo",
    repo_url="https://github.com/hrnet-zoo/hrnet_zoo",
    tags=["keypoint-detection", "hrnet"],
):
    """Adds hub save/load and the description of foreign checkpoint layouts to ``nn.Module``."""

    #: Key layouts of other repositories this model can load, name → converter.
    #: hrnet_zoo's own layout is always tried too (see :func:`hrnet_zoo.load_checkpoint`).
    checkpoint_layouts: ClassVar[dict[str, LayoutConverter]] = {}

    def save_pretrained(self, save_directory: str | Path, *, config: dict | None = None, **kwargs):
        """Write ``config.json`` (constructor arguments + ``architecture``, the class name that
        :func:`hrnet_zoo.from_pretrained` rebuilds) and ``model.safetensors``; see the mixin for ``push_to_hub``."""
        base = (self._hub_mixin_config or {}) if config is None else config
        config = {**base, "architecture": type(self).__name__}
        return super().save_pretrained(save_directory, config=config, **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs):
        # Unlike the mixin's default (strict=False, unverified), weights must fit and Hub files are
        # checked against the sha256 the Hub reports for them.
        from hrnet_zoo.weights.config import validate_model_config
        from hrnet_zoo.weights.convert import load_checkpoint
        from hrnet_zoo.weights.pretrained import zoo_weights_file

        validate_model_config({**model_kwargs, "architecture": cls.__name__}, model_id)  # config.json: anyone's
        model = cls(**model_kwargs)
        path = zoo_weights_file(model_id, revision, token=token, cache_dir=cache_dir,
                                force_download=force_download, local_files_only=local_files_only)
        load_checkpoint(model, path, strict=strict)
        return model.to(map_location).eval()
