"""Deprecated since 0.3: moved to `hrnet_zoo.training.loop` (``run_epoch`` is now ``train_one_epoch``),
`hrnet_zoo.training.config` (the checks) and `hrnet_zoo.training.setup` (``Run``); removed in 0.4."""
import warnings

from hrnet_zoo.training.config import check_config, check_device
from hrnet_zoo.training.loop import (LOSS_GROWTH_WARNING, LossWatch, check_finite_weights, finish_epoch, run_epoch,
                                     train_one_epoch, validate)
from hrnet_zoo.training.setup import Run, stderr_log

warnings.warn("hrnet_zoo.train_loop is deprecated and will be removed in 0.4: import from hrnet_zoo.training.loop "
              "(run_epoch is now train_one_epoch)", DeprecationWarning, stacklevel=2)

__all__ = ["LOSS_GROWTH_WARNING", "LossWatch", "Run", "check_config", "check_device", "check_finite_weights",
           "finish_epoch", "run_epoch", "stderr_log", "train_one_epoch", "validate"]
