"""Deprecated since 0.3 and removed in 0.4: moved to hrnet_zoo.evaluation.files.

This module re-exports those names so that old imports keep working, with a DeprecationWarning."""
import warnings

from hrnet_zoo.evaluation.files import *  # noqa: F401,F403

warnings.warn("hrnet_zoo.result_files is deprecated and will be removed in 0.4; "
              "import from hrnet_zoo.evaluation.files", DeprecationWarning, stacklevel=2)
