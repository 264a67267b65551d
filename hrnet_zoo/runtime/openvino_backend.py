"""The OpenVINO backend: the ONNX graph read by OpenVINO, compiled for the CPU in f32, bf16, f16 or int8.

Static shapes compile to faster code than a dynamic batch, so a runner with ``batch_size=None``
compiles once per batch size it meets (a few kept) and only beyond that falls back to one
dynamic-batch compilation.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from hrnet_zoo.runtime.hardware import cpu_native
from hrnet_zoo.runtime.runner import require

HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
#: Batch sizes a dynamic-batch runner compiles statically before it uses one dynamic compilation.
STATIC_BATCHES = 4


def read_onnx(onnx_path):
    """The ONNX file as an ``openvino.Model``."""
    ov = require("openvino", "openvino")
    return ov.Core().read_model(str(onnx_path))


def compile_config(precision: str, threads: int) -> dict:
    """``compile_model`` settings: the inference precision, latency mode, ``threads`` threads.

    An int8 model runs its quantised layers in int8; the layers left in float run in bf16 where the
    CPU has it.
    """
    if precision == "int8":
        hint = "bf16" if cpu_native("bf16") else "f32"
    else:
        hint = HINTS[precision]
    return {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}


def build_openvino(ov_model, precision: str, threads: int, batch_size: int | None):
    """``run(x) → [float32 outputs]``; ``ov_model`` has its H×W fixed (and is int8 already for int8)."""
    ov = require("openvino", "openvino")
    core = ov.Core()
    config = compile_config(precision, threads)
    shape = list(ov_model.input(0).get_partial_shape())
    compiled: OrderedDict = OrderedDict()
    lock = threading.Lock()

    def request_for(n: int):
        key = n if batch_size is not None or len(compiled) < STATIC_BATCHES or n in compiled else None
        if key not in compiled:
            model = ov_model.clone()
            model.reshape({model.input(0): ov.PartialShape([key if key is not None else -1, *shape[1:]])})
            compiled[key] = core.compile_model(model, "CPU", config).create_infer_request()
        return compiled[key]

    if batch_size is not None:
        request_for(batch_size)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        data = x.detach().cpu().contiguous().numpy()
        with lock:  # one infer request per shape: calls from several threads take turns
            request = request_for(len(data))
            request.infer({0: data}, share_inputs=True)
            return [torch.from_numpy(request.get_output_tensor(i).data.copy())
                    for i in range(len(request.model_outputs))]

    return run
