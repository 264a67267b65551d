"""Moved to `hrnet_zoo.evaluation.files`; this path re-exports it."""
from hrnet_zoo.evaluation.files import *  # noqa: F401,F403
