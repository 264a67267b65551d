"""Tiny ONNX graphs with the inputs and outputs of real detector exports, built with onnx's helper API.

* YOLOX (``tools/export_onnx.py``): input ``images`` 1×3×H×W, output ``output`` 1×A×(5+C) with
  A = Σ (H/s)(W/s) over strides 8, 16, 32, sigmoids inside the graph.
* mmdeploy ``end2end.onnx`` (RTMDet, mmpose's YOLOX): input ``input``, outputs ``dets`` 1×K×5 float and
  ``labels`` 1×K int64.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(nodes, inputs, outputs, initializers, path) -> bytes:
    graph = helper.make_graph(nodes, "detector", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return data


def _input(name: str, size, dynamic: bool = False):
    shape = ["batch", 3, "height", "width"] if dynamic else [1, 3, *size]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _zero_times_input(name: str) -> list:
    """Nodes computing ``zero`` = 0 × mean(input): the constant outputs still depend on the input."""
    return [helper.make_node("ReduceMean", [name], ["mean"], keepdims=0),
            helper.make_node("Mul", ["mean", "zero_scale"], ["zero"])]


def yolox_constant(path, raw: np.ndarray, size=(64, 64)) -> bytes:
    """A YOLOX-shaped graph whose ``output`` is ``raw`` (1×A×(5+C)) whatever the image."""
    nodes = _zero_times_input("images") + [helper.make_node("Add", ["zero", "raw"], ["output"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero_scale"),
             numpy_helper.from_array(raw.astype(np.float32), "raw")]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(raw.shape))
    return _save(nodes, [_input("images", size)], [out], inits, path)


def yolox_random(path, size=(64, 64), num_classes: int = 2, seed: int = 0, dynamic: bool = False) -> bytes:
    """A YOLOX-shaped graph with random weights: one strided convolution per level, then sigmoid."""
    rng = np.random.default_rng(seed)
    channels = 5 + num_classes
    nodes, inits, levels = [], [], []
    for stride in (8, 16, 32):
        weight = rng.normal(0, 2.0 / (255 * stride), size=(channels, 3, stride, stride)).astype(np.float32)
        inits += [numpy_helper.from_array(weight, f"w{stride}"),
                  numpy_helper.from_array(np.array([1, channels, -1], np.int64), f"shape{stride}")]
        nodes += [helper.make_node("Conv", ["images", f"w{stride}"], [f"c{stride}"], strides=[stride, stride]),
                  helper.make_node("Reshape", [f"c{stride}", f"shape{stride}"], [f"r{stride}"])]
        levels.append(f"r{stride}")
    nodes += [helper.make_node("Concat", levels, ["cat"], axis=2),
              helper.make_node("Transpose", ["cat"], ["t"], perm=[0, 2, 1]),
              helper.make_node("Sigmoid", ["t"], ["output"])]
    anchors = "anchors" if dynamic else sum((size[0] // s) * (size[1] // s) for s in (8, 16, 32))
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, anchors, channels])
    return _save(nodes, [_input("images", size, dynamic)], [out], inits, path)


def end2end_constant(path, dets: np.ndarray, labels: np.ndarray, size=(64, 64)) -> bytes:
    """An mmdeploy-shaped graph whose ``dets`` (1×K×5, x1 y1 x2 y2 score) and ``labels`` are constants."""
    nodes = _zero_times_input("input") + [helper.make_node("Add", ["zero", "dets_value"], ["dets"]),
                                         helper.make_node("Identity", ["labels_value"], ["labels"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero_scale"),
             numpy_helper.from_array(dets.astype(np.float32)[None], "dets_value"),
             numpy_helper.from_array(labels.astype(np.int64)[None], "labels_value")]
    outs = [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, len(dets), 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, len(dets)])]
    return _save(nodes, [_input("input", size)], outs, inits, path)
