"""Reference graphs that ``edgesub devices calibrate --remote`` measures on a device.

Each graph is one kind of work the estimator models, at a small size (where dispatch overhead
weighs) and a large one (where the kernels or memory do): a 3×3 convolution, a depthwise 3×3,
a matrix product and an element-wise chain (memory-bound). They are ONNX built with
``onnx.helper`` here, so nothing is downloaded and only the runtime install is needed: fp32,
and int8 for the ops with weights, in the QDQ form ONNX Runtime fuses into its int8 kernels
(int8 weights and activations, S8S8), as edgesub's own int8 artifacts are.
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
def _int8(parts: Parts, rng: np.random.Generator) -> Parts:
    """The fp32 graph's single weighted op between QuantizeLinear/DequantizeLinear pairs, its
    weights stored as int8 behind a DequantizeLinear."""
    from onnx import helper, numpy_helper

    (node,), (weights,), shape = parts
    values = rng.integers(-127, 128, size=tuple(weights.dims)).astype(np.int8)
    scalars = [
        numpy_helper.from_array(np.array(value, dtype=dtype), name)
        for name, value, dtype in (
            ("xs", 0.02, np.float32), ("ws", 0.01, np.float32), ("ys", 0.05, np.float32),
            ("z", 0, np.int8),
        )
    ]  # fmt: skip
    op = helper.make_node(node.op_type, ["xd", "wd"], ["c"])
    op.attribute.extend(node.attribute)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "z"], ["wd"]),
        op,
        helper.make_node("QuantizeLinear", ["c", "ys", "z"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "ys", "z"], ["y"]),
    ]
    return nodes, [numpy_helper.from_array(values, "wq"), *scalars], shape


SUITE: dict[str, tuple[Builder, tuple[int, int], tuple[int, int]]] = {
    "conv3x3": (_conv, (16, 28), (64, 56)),
    "depthwise3x3": (_depthwise, (32, 28), (128, 56)),
    "matmul": (_matmul, (1, 256), (64, 1024)),
    "elementwise": (_elementwise, (16, 28), (64, 112)),
}


def write_suite(folder: Path, seed: int = 0) -> list[Path]:
    """Every graph of :data:`SUITE` at both sizes, fp32 and (with weights) int8, as
    ``folder/KIND-SIZE-PRECISION.onnx``."""
    rng = np.random.default_rng(seed)
    paths = []
    for kind, (build, *sizes) in SUITE.items():
        for label, size in zip(("small", "large"), sizes, strict=True):
            parts = build(*size, rng)
            variants = {"fp32": parts, **({"int8": _int8(parts, rng)} if parts[1] else {})}
            for precision, variant in variants.items():
                path = Path(folder) / f"{kind}-{label}-{precision}.onnx"
                paths.append(_save(variant, path))
    return paths


def _save(parts: Parts, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    nodes, weights, shape = parts
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        weights,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path
