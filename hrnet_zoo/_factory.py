"""``create_model`` and ``list_models``: the registry's names, built and filtered by their weights."""
from __future__ import annotations

from torch import nn

from hrnet_zoo._registry import get_model_entrypoint, match_models, suggest_models
from hrnet_zoo.errors import UnknownModelError  # noqa: F401  (re-exported)
from hrnet_zoo.weights.manifest import models_with_weights



def unknown_model_message(name: str, close: list[str] | None = None) -> str:
    """``unknown model 'x'; did you mean …?``, with ``close`` names or the registry's suggestions."""
    close = suggest_models(name) if close is None else close
    hint = f"; did you mean {', '.join(close)}?" if close else "; `hrnet-zoo list` shows every name."
    return f"unknown model {name!r}{hint}"


def model_entrypoint(name: str):
    """The registered factory of ``name``; [`UnknownModelError`][hrnet_zoo.errors.UnknownModelError] with close names otherwise."""
    fn = get_model_entrypoint(name)
    if fn is None:
        raise UnknownModelError(unknown_model_message(name))
    return fn


def list_models(pattern: str | list[str] = "*", pretrained: bool = False) -> list[str]:
    """Sorted names matching the fnmatch ``pattern`` (or any of a list of patterns).

    With ``pretrained=True`` only models that have weights in ``weights_manifest.json``.
    """
    names = match_models(pattern)
    if pretrained:
        with_weights = set(models_with_weights())
        names = [n for n in names if n in with_weights]
    return names


def create_model(name: str, pretrained: bool | str = False, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from [`list_models()`][hrnet_zoo._factory.list_models], e.g. ``"hrnet_w32"``.
        pretrained: ``False``; ``True`` for the default weights the manifest names; a manifest tag;
            ``"hf-hub:org/repo[@rev]"`` or a local folder in hrnet_zoo's own format, whose
            ``config.json`` supplies constructor arguments that ``kwargs`` do not set, and the
            ``pretrained_cfg``. What loading did is in ``model.load_result`` (a `LoadResult`); a pose
            model's prediction layer that the weights do not fill (another ``keypoints`` count)
            gets ``reset_head``'s official initialisation.
        **kwargs: passed to the factory: ``num_keypoints``, ``num_classes``, ``in_chans``, ``keypoints``
            (a [`KeypointSet`][hrnet_zoo.pose.keypoint_set.KeypointSet], built-in name or list of names; sets ``num_keypoints``),
            ``pretrained_cfg_overlay`` (a dict of [`PretrainedCfg`][hrnet_zoo.pretrained_cfg.PretrainedCfg] fields), or
            ``features_only=True`` with ``out_indices``. An argument the model does not take raises
            ``TypeError``.
    """
    return model_entrypoint(name)(pretrained=pretrained, **kwargs)
