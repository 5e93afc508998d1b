"""ONNX graph analysis with the ``onnx`` package: shapes by inference, MACs and bytes per node.

Quantised graphs come in two shapes and both are recognised: QOperator (QLinearConv,
MatMulInteger...) and QDQ (DequantizeLinear of an int8 initializer feeding a float Conv, which
ONNX Runtime fuses into an int8 kernel). A DequantizeLinear (or Identity) of a constant is
folded into the weights of its consumer, because runtimes evaluate it once at load time.

The ops are those ONNX Runtime executes: BatchNormalization, per-channel Add/Mul and the
activation after a Conv, bias and activation after a MatMul/Gemm, and Identity/Dropout are
fused away by :data:`edgesub.profile.fusion.ONNX_FUSIONS`, whose conditions (a per-channel
constant, a 2-D MatMul) this module establishes as traits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.backends import BACKENDS
from edgesub.errors import ModelFileError
from edgesub.onnx_files import check_external_data
from edgesub.profile.fusion import ONNX_FUSIONS, ONNX_NO_OPS, Step, fuse
from edgesub.profile.graph import (
    Graph,
    OpCost,
    ShapeOverride,
    TensorSpec,
    peak_live_bytes,
)
from edgesub.profile.onnx_costs import op_cost_rule
from edgesub.profile.onnx_fold import fold_and_infer
from edgesub.profile.onnx_inputs import bind_inputs

if TYPE_CHECKING:
    import onnx

# Standard domains; anything else is a custom op no runtime knows without a plugin.
_STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}
_INT8_OPS = {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QGemm"}
_INT8_TYPES = {"INT8", "UINT8", "INT4", "UINT4"}
# Ops whose output is a constant when their input is: evaluated once at load time.
_LOAD_TIME_OPS = {"Constant", "DequantizeLinear", "Identity", "Dropout"}


@BACKENDS.get("onnx").provides("graph")
def load_onnx(path: Path, input_shape: ShapeOverride = None) -> Graph:
    """Parse ``path`` into a Graph; ``input_shape`` fills dynamic dims of the inputs it fits."""
    onnx = require("onnx")
    model = _read(onnx, path)
    graph = model.graph
    constants = {init.name: init for init in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in constants]
    inputs = bind_inputs(onnx, model, real_inputs, input_shape, path)
    folded = fold_and_infer(onnx, model, path)
    shapes, dtypes = _value_table(onnx, folded.model)
    return _build(onnx, model, path, constants, inputs, shapes, dtypes, folded.values)


def _read(onnx: Any, path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError/RuntimeWarning-like types
        check_external_data(path)  # a missing weights side file, named plainly
        raise ModelFileError(f"{path.name}: not a readable ONNX model ({exc})") from None
    if not model.graph.node:
        raise ModelFileError(f"{path.name}: ONNX model has no nodes (truncated or empty file?)")
    return model


def _value_table(onnx: Any, model: onnx.ModelProto) -> tuple[dict, dict]:
    """Static shapes and element sizes of every tensor shape inference could resolve."""
    shapes: dict[str, tuple[int, ...]] = {}
    itemsize: dict[str, int] = {}
    graph = model.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor_type.shape.dim]
        if all(d > 0 for d in dims):
            shapes[value.name] = tuple(dims)
            itemsize[value.name] = _itemsize(onnx, tensor_type.elem_type)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
        itemsize[init.name] = _itemsize(onnx, init.data_type)
    return shapes, itemsize


def _itemsize(onnx: Any, elem_type: int) -> int:
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 4


def _type_name(onnx: Any, elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type)


def _build(
    onnx: Any,
    model: onnx.ModelProto,
    path: Path,
    constants: dict,
    inputs: list[TensorSpec],
    shapes: dict,
    itemsize: dict,
    values: dict,
) -> Graph:
    """Ops in graph order; nodes folded to constants run at load time and are not ops."""
    graph = model.graph
    const_bytes = {name: _nbytes(shapes[name], itemsize[name]) for name in constants}
    int8_consts = {n for n, t in constants.items() if _type_name(onnx, t.data_type) in _INT8_TYPES}
    folded = _fold_constant_dequantize(graph, const_bytes, int8_consts)
    derived = {name for name in values if name not in const_bytes}
    const_bytes.update({name: _nbytes(shapes[name], itemsize[name]) for name in derived})
    kept = [node for node in graph.node if not all(o in values for o in node.output if o)]
    stored: list[Step] = []
    custom: list[str] = []
    for index, node in enumerate(graph.node):
        if node.op_type in _LOAD_TIME_OPS and node.output[0] in const_bytes:
            continue
        if all(o in values for o in node.output if o):
            continue
        if node.domain not in _STANDARD_DOMAINS:
            custom.append(f"{node.domain}.{node.op_type}")
        name = node.name or f"{node.op_type}_{index}"
        cost = _op_cost(node, name, shapes, itemsize, const_bytes, int8_consts)
        read = [*node.input, *_implicit_inputs(node)]
        reads = tuple(i for i in read if i and i not in const_bytes)
        traits = _TRAITS[node.op_type](node, shapes, const_bytes) if node.op_type in _TRAITS else ()
        stored.append(Step(cost, reads, tuple(o for o in node.output if o), frozenset(traits)))
    activation_sizes = {
        n: _nbytes(s, itemsize[n]) for n, s in shapes.items() if n not in const_bytes
    }
    outputs = [TensorSpec(o.name, shapes.get(o.name, ()), _dtype(onnx, o)) for o in graph.output]
    input_names, output_names = [i.name for i in inputs], [o.name for o in outputs]
    run = fuse(stored, input_names, output_names, activation_sizes, ONNX_FUSIONS, ONNX_NO_OPS)
    return Graph(
        path=path,
        format="onnx",
        ops=[step.cost for step in run.steps],
        inputs=inputs,
        outputs=outputs,
        weight_bytes=_stored_bytes(const_bytes, kept, graph, folded | derived),
        peak_activation_bytes=peak_live_bytes(
            [(s.inputs, s.outputs) for s in run.steps], activation_sizes, input_names, output_names
        ),
        custom_ops=sorted(set(custom)),
        fused_ops=run.fused_ops,
    )


def _implicit_inputs(node: Any) -> list[str]:
    """Outer-scope tensors the sub-graphs of a control-flow node (If, Loop, Scan) read."""
    names: list[str] = []
    for attr in node.attribute:
        for body in [attr.g] if attr.HasField("g") else list(attr.graphs):
            inner = {o for n in body.node for o in n.output} | {i.name for i in body.input}
            inner |= {init.name for init in body.initializer}
            for sub in body.node:
                names += [i for i in [*sub.input, *_implicit_inputs(sub)] if i and i not in inner]
    return names


def _stored_bytes(const_bytes: dict, kept: list, graph: Any, copies: set[str]) -> int:
    """Bytes of the constants the runtime keeps: those a remaining node or the output reads
    (constants read only by folded shape arithmetic are dropped at load time)."""
    read = {name for node in kept for name in node.input} | {o.name for o in graph.output}
    return sum(b for n, b in const_bytes.items() if n in read and n not in copies)


def _fold_constant_dequantize(graph: Any, const_bytes: dict, int8_consts: set) -> set[str]:
    """Treat DequantizeLinear/Identity/Dropout outputs of constants, and Constant outputs, as
    constants of the stored size.

    Returns the names whose bytes are already counted elsewhere (the dequantized copies).
    """
    folded: set[str] = set()
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            const_bytes.setdefault(node.output[0], _constant_node_bytes(node))
        elif node.op_type in _LOAD_TIME_OPS and node.input and node.input[0] in const_bytes:
            out = node.output[0]
            const_bytes[out] = const_bytes[node.input[0]]
            folded.add(out)
            if node.input[0] in int8_consts:
                int8_consts.add(out)
    return folded


def _constant_node_bytes(node: Any) -> int:
    for attr in node.attribute:
        if attr.HasField("t"):
            return len(attr.t.raw_data) or 4 * math.prod(attr.t.dims)
    return 0


def _dtype(onnx: Any, value: Any) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name


def _nbytes(shape: Sequence[int], itemsize: int) -> int:
    return math.prod(shape) * itemsize if shape else itemsize


def _op_cost(
    node: Any, name: str, shapes: dict, itemsize: dict, const_bytes: dict, int8_consts: set
) -> OpCost:
    inputs = [i for i in node.input if i]
    weights = [i for i in inputs if i in const_bytes]
    acts = [i for i in inputs if i not in const_bytes and i in shapes]
    outs = [o for o in node.output if o and o in shapes]
    rule = op_cost_rule(node)
    cost = rule(node, shapes) if rule is not None and node.output else None
    kind, macs = cost or ("other", 0)
    int8 = node.op_type in _INT8_OPS or any(w in int8_consts for w in weights[:2])
    fp16 = any(itemsize.get(w) == 2 for w in weights) and not int8
    return OpCost(
        name=name,
        op_type=node.op_type,
        kind=kind,
        macs=macs,
        weight_bytes=sum(const_bytes[w] for w in weights),
        input_bytes=sum(_nbytes(shapes[a], itemsize[a]) for a in acts),
        output_bytes=sum(_nbytes(shapes[o], itemsize[o]) for o in outs),
        precision="int8" if int8 else ("fp16" if fp16 else "fp32"),
        costed=cost is not None,
    )


def _channel_constant(node: Any, shapes: dict, const_bytes: dict) -> tuple[str, ...]:
    """Add/Mul traits: ``per_channel`` when input 1 is a constant [C,1,…] or [1,C,1,…] over an
    [N,C,…] input 0 (ONNX Runtime folds it into a Conv), ``gemm_bias`` when it broadcasts over a
    2-D input 0 (a MatMul's bias)."""
    if len(node.input) != 2 or node.input[1] not in const_bytes or node.input[0] in const_bytes:
        return ()
    data, const = shapes.get(node.input[0]), shapes.get(node.input[1])
    if data is None or const is None:
        return ()
    traits = []
    rank = len(data)
    if rank >= 3 and len(const) in (rank - 1, rank):
        lead = const[: len(const) - rank + 1]  # () or the leading 1
        rest = const[len(lead) :]
        if all(d == 1 for d in lead) and rest[0] == data[1] and all(d == 1 for d in rest[1:]):
            traits.append("per_channel")
    if rank == 2 and len(const) <= 2 and node.op_type == "Add":
        aligned = data[len(data) - len(const) :]
        if all(c in (1, d) for c, d in zip(const, aligned, strict=True)):
            traits.append("gemm_bias")
    return tuple(traits)


def _two_dimensional(node: Any, shapes: dict, const_bytes: dict) -> tuple[str, ...]:
    """MatMul trait ``2d``: both operands are matrices (ONNX Runtime makes it a Gemm)."""
    found = [shapes.get(name) for name in node.input[:2]]
    return ("2d",) if len(found) == 2 and all(s is not None and len(s) == 2 for s in found) else ()


# op type → the traits fusion rules ask of it (edgesub.profile.fusion.ONNX_FUSIONS)
_TRAITS = {"Add": _channel_constant, "Mul": _channel_constant, "MatMul": _two_dimensional}
