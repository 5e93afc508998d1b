"""Reference graphs that ``edgesub devices calibrate --remote`` measures on a device.

Each graph is one kind of work the estimator models, at a small size (where dispatch overhead
weighs) and a large one (where the kernels or memory do): a 3×3 convolution, a depthwise 3×3,
a matrix product and an element-wise chain (memory-bound). They are fp32 ONNX built with
``onnx.helper`` here, so nothing is downloaded and only the runtime install is needed; int8
variants are not in the suite yet (the fit then learns nothing about int8 kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

# A builder gives the nodes, the weights and the input shape of one graph.
Parts = tuple[list, list, list[int]]
Builder = Callable[..., Parts]


def _weights(name: str, shape: tuple[int, ...], rng: np.random.Generator):
    from onnx import numpy_helper

    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.05, name)


def _conv(channels: int, side: int, rng: np.random.Generator) -> Parts:
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    return nodes, [_weights("w", (channels, channels, 3, 3), rng)], [1, channels, side, side]


def _depthwise(channels: int, side: int, rng: np.random.Generator) -> Parts:
    from onnx import helper

    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=channels)
    return [node], [_weights("w", (channels, 1, 3, 3), rng)], [1, channels, side, side]


def _matmul(rows: int, width: int, rng: np.random.Generator) -> Parts:
    from onnx import helper

    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    return [node], [_weights("w", (width, width), rng)], [rows, width]


def _elementwise(channels: int, side: int, rng: np.random.Generator) -> Parts:
    from onnx import helper

    nodes = [
        helper.make_node("Add", ["x", "x"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Mul", ["r", "x"], ["y"]),
    ]
    return nodes, [], [1, channels, side, side]


# kind → (builder, its size arguments small, and large)
SUITE: dict[str, tuple[Builder, tuple[int, int], tuple[int, int]]] = {
    "conv3x3": (_conv, (16, 28), (64, 56)),
    "depthwise3x3": (_depthwise, (32, 28), (128, 56)),
    "matmul": (_matmul, (1, 256), (64, 1024)),
    "elementwise": (_elementwise, (16, 28), (64, 112)),
}


def write_suite(folder: Path, seed: int = 0) -> list[Path]:
    """Every graph of :data:`SUITE` at both sizes as ``folder/KIND-SIZE.onnx``."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    paths = []
    for kind, (build, *sizes) in SUITE.items():
        for label, size in zip(("small", "large"), sizes, strict=True):
            nodes, weights, shape = build(*size, rng)
            graph = helper.make_graph(
                nodes,
                f"{kind}-{label}",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                weights,
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            path = Path(folder) / f"{kind}-{label}.onnx"
            onnx.save(model, path)
            paths.append(path)
    return paths
