"""Deprecated since 0.3: moved to `hrnet_zoo.training.checkpoint` (the run folder, resume state, best/)
and `hrnet_zoo.training.config` (what a resume may change); removed in 0.4."""
import warnings

from hrnet_zoo.training.checkpoint import (BEST_FILE, LOCK, MARKER, RUN_FILES, load_resume_state, open_run_folder,
                                           reported_best, resumed_best)
from hrnet_zoo.training.config import (KEPT_ON_RESUME, SAFE_ON_RESUME, given_options, resume_config,
                                       run_options)

warnings.warn("hrnet_zoo.run_folder is deprecated and will be removed in 0.4: import from "
              "hrnet_zoo.training.checkpoint (and hrnet_zoo.training.config for the resume rules)",
              DeprecationWarning, stacklevel=2)

__all__ = ["BEST_FILE", "MARKER", "LOCK", "RUN_FILES", "KEPT_ON_RESUME", "SAFE_ON_RESUME", "open_run_folder",
           "load_resume_state", "resume_config", "given_options", "resumed_best", "reported_best", "run_options"]
