"""Base class of every hrnet_zoo model.

Models are plain ``nn.Module``s whose constructor arguments are JSON values, so huggingface_hub's
``PyTorchModelHubMixin`` can write them to ``config.json`` and rebuild the model from it
(``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``).
"""
from __future__ import annotations

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
