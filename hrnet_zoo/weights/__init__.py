"""Weights: reading and converting checkpoints, the manifest, and Hub downloads."""
from hrnet_zoo.weights.convert import CheckpointError, LoadResult, load_checkpoint, read_state_dict

__all__ = ["CheckpointError", "LoadResult", "load_checkpoint", "read_state_dict"]
