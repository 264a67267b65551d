"""Deprecated since 0.3: moved to `hrnet_zoo.training.checkpoint` (checkpoints, metrics, random states),
`hrnet_zoo.training.optim` (scheduler state) and `hrnet_zoo.errors` (TrainingError); removed in 0.4."""
import warnings

from hrnet_zoo.errors import TrainingError
from hrnet_zoo.training.checkpoint import (BEST_FILE, STATE_FILE, append_metrics, describe_write_error,
                                           read_best_info, recover_checkpoint_dir, rng_state, save_checkpoint_dir,
                                           set_rng_state, truncate_metrics)
from hrnet_zoo.training.optim import load_scheduler_state, reschedule, scheduler_state

warnings.warn("hrnet_zoo.training_state is deprecated and will be removed in 0.4: import from "
              "hrnet_zoo.training.checkpoint (and hrnet_zoo.training.optim for the scheduler state)",
              DeprecationWarning, stacklevel=2)

__all__ = ["BEST_FILE", "STATE_FILE", "TrainingError", "append_metrics", "describe_write_error", "load_scheduler_state",
           "read_best_info", "recover_checkpoint_dir", "reschedule", "rng_state", "save_checkpoint_dir",
           "scheduler_state", "set_rng_state", "truncate_metrics"]
