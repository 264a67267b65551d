"""The package's error base class, and the signal a key-layout converter gives when a checkpoint is not its layout.

Every error hrnet_zoo raises on purpose derives from [`HRNetZooError`][hrnet_zoo.errors.HRNetZooError]; each also keeps the builtin
base it always had (``KeyError`` for an unknown model, ``RuntimeError`` for checkpoints and weights,
``ValueError`` for bad arguments), so ``except`` clauses written against those still catch it.
"""
from __future__ import annotations


class HRNetZooError(Exception):
    """Base of every error hrnet_zoo raises on purpose."""


class InvalidArgumentError(HRNetZooError, ValueError):
    """An argument hrnet_zoo cannot use (a wrong shape, range or size); the message names it."""


class LayoutNotRecognized(HRNetZooError):
    """Raised by a key-layout converter when a state dict is not in its layout.

    Only this exception means "try the next layout"; anything else a converter raises is a bug and
    propagates.
    """


class DatasetError(HRNetZooError, ValueError):
    """A keypoint dataset, detections file or results file that cannot be used: a missing field, an
    unknown image id, a missing or unreadable image, a box of zero size. The message names the file
    and, where there is one, the annotation or image id."""


class NonFiniteOutputError(HRNetZooError, FloatingPointError):
    """A model produced NaN or infinite outputs (broken or diverged weights); nothing is decoded from them."""


class OutputWriteError(HRNetZooError, OSError):
    """An output file or folder that cannot be written (read-only location, full disk); the message names it."""


class DetectorError(HRNetZooError, RuntimeError):
    """A person (or object) detector that cannot be used: an ONNX file whose inputs or outputs are not
    the layout of its family, or a detections file without an entry for the image asked for. The
    message names the file and what to do."""


class VideoError(HRNetZooError, RuntimeError):
    """A video that cannot be read or written (a missing file, a format FFmpeg cannot decode, a
    folder that cannot be written); the message names the file."""


class TrainingError(HRNetZooError, ValueError):
    """A run that cannot start or go on as asked (a model whose keypoint count differs from the
    dataset's, an output folder that holds something else, a checkpoint that does not fit, a loss
    that is no longer finite, a checkpoint that cannot be written, a precision this machine lacks)."""


class RegistryError(HRNetZooError, ValueError):
    """A model name or family registered twice, or a family module that cannot be described (a
    constructor argument without a type the config check understands): a mistake in a family module."""


class UnknownModelError(HRNetZooError, KeyError):
    """Raised for a model name the registry does not know; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would repr() the message with quotes
        return str(self.args[0]) if self.args else ""


class PretrainedWeightsError(HRNetZooError, RuntimeError):
    """No usable weights: unknown tag, offline without a cache, checksum mismatch, unreachable source."""


class ChecksumError(PretrainedWeightsError):
    """A downloaded file whose sha256 is not the expected one (the file has been removed)."""


class OfflineError(PretrainedWeightsError):
    """Offline mode is on and the file is not cached."""


class CorruptCacheError(PretrainedWeightsError):
    """A converted cache file whose content does not match the sha256 in its name."""


class UnknownWeightsError(PretrainedWeightsError, KeyError):
    """No manifest entry for a model/tag; the message lists the tags that exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidConfigError(PretrainedWeightsError, ValueError):
    """A ``config.json`` argument of the wrong type or out of range (nothing was built)."""


class CheckpointError(HRNetZooError, RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


class BackendUnavailableError(HRNetZooError, ImportError):
    """A backend whose package is not installed; the message names the pip extra."""


class UnsupportedPrecisionError(HRNetZooError, ValueError):
    """A precision the backend or this hardware cannot run well; the message says why and what ``auto`` picks."""


class ArgumentTypeError(HRNetZooError, TypeError):
    """An argument of a type hrnet_zoo cannot use, or one the call does not take (``features_only``
    with ``num_keypoints``); the message names it."""


class MissingDependencyError(HRNetZooError, ImportError):
    """An optional package a feature needs (Pillow for drawing) is not installed; the message names the pip command."""


class AccuracyCheckError(HRNetZooError, RuntimeError):
    """An exported graph or an optimised runner whose outputs do not match eager PyTorch (a different
    number of outputs, or no candidate within tolerance); nothing is returned from it."""


class WeightsEntryError(HRNetZooError, ValueError):
    """A weights entry (of the shipped manifest or of ``register_weights``) with a missing, unknown or
    unsafe field, or one that already exists; the message names the field."""
