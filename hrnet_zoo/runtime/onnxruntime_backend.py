"""The onnxruntime backend: the graph [`hrnet_zoo.export.export_onnx()`][hrnet_zoo.export.export_onnx] writes, full graph optimisation."""
from __future__ import annotations

import torch

from hrnet_zoo.export import INPUT_NAME
from hrnet_zoo.runtime.runner import require


def build_onnxruntime(onnx_path, device: torch.device, threads: int):
    """``run(x) → [float32 outputs]`` with an onnxruntime session on ``onnx_path`` (CUDA provider on a GPU)."""
    ort = require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle threads that spin keep a core busy after each call, which slows torch (or anything else)
    # running next in the same process.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    session = ort.InferenceSession(str(onnx_path), options, providers=providers)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        return [torch.from_numpy(o) for o in session.run(None, {INPUT_NAME: x.detach().cpu().numpy()})]

    return run
