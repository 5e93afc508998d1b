"""Cost rules of ONNX ops, a registry keyed by op type.

A rule turns a node and the inferred tensor shapes into ``(kind, MACs)``, or ``None`` when the
shapes it needs are unknown: such an op is *uncosted* and the estimator refuses to guess. MACs
follow the convention of published model counts (convolutions and matrix products only);
element-wise, normalisation, pooling, resize and data-movement ops cost their bytes, which need
known shapes too. Shape arithmetic costs nothing beyond dispatch. An op type with no rule is
uncosted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from edgesub.registry import Registry

Shapes = dict[str, tuple[int, ...]]
CostRule = Callable[[Any, Shapes], "tuple[str, int] | None"]
ONNX_COSTS: Registry[CostRule] = Registry("ONNX op cost rule")


def _register(rule: CostRule, *op_types: str) -> None:
    for op_type in op_types:
        ONNX_COSTS.add(op_type, rule)


def int_attr(node: Any, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def _io(node: Any, shapes: Shapes, *positions: int) -> list[tuple[int, ...]] | None:
    """Output 0 then the inputs at ``positions``; None if any shape is unknown."""
    names = [node.output[0], *(node.input[p] if p < len(node.input) else "" for p in positions)]
    found = [shapes.get(name) for name in names]
    return None if any(s is None for s in found) else found  # type: ignore[return-value]


def _conv(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """Output elements × (input channels per group × kernel area); dilation changes no MACs."""
    found = _io(node, shapes, 3 if node.op_type == "QLinearConv" else 1)
    if found is None:
        return None
    out, weight = found
    group = int_attr(node, "group", 1)
    kind = "pointwise" if math.prod(weight[2:]) == 1 and group == 1 else "conv"
    if group > 1 and weight[1] == 1:
        kind = "depthwise"
    return kind, math.prod(out) * math.prod(weight[1:])


def _conv_transpose(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """Every input element scatters into (output channels per group × kernel area) outputs."""
    found = _io(node, shapes, 0, 1)
    return None if found is None else ("conv", math.prod(found[1]) * math.prod(found[2][1:]))


def _gemm(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    found = _io(node, shapes, 0)
    if found is None:
        return None
    out, a = found
    return "matmul", math.prod(out) * (a[0] if int_attr(node, "transA", 0) else a[-1])


def _matmul(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """Batched too: output elements × the contracted length."""
    found = _io(node, shapes, 0)
    if found is None:
        return None
    out, a = found
    k = a[-2] if int_attr(node, "transA", 0) and len(a) > 1 else a[-1]
    return "matmul", math.prod(out) * k


def _einsum(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """The product of every index's size (each output element sums over the rest)."""
    equation = next((a.s.decode() for a in node.attribute if a.name == "equation"), "")
    terms = equation.replace(" ", "").split("->")[0].split(",")
    operands = [shapes.get(name) for name in node.input]
    if "." in equation or any(s is None for s in operands) or len(terms) != len(operands):
        return None
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, operands, strict=True):
        sizes.update(zip(term, shape, strict=False))  # type: ignore[arg-type]
    return "matmul", math.prod(sizes.values())


def _attention(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """com.microsoft Attention: the QKV projection plus scores and context (2·B·S²·hidden)."""
    found = _io(node, shapes, 0, 1)
    if found is None:
        return None
    _, data, weight = found
    batch, seq, hidden = data
    return "matmul", batch * seq * hidden * weight[-1] + 2 * batch * seq * seq * hidden


def _recurrent(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """LSTM/GRU/RNN: every step multiplies input and state by the gate weights."""
    found = _io(node, shapes, 0, 1, 2)
    if found is None:
        return None
    _, data, weight, recurrence = found
    steps, batch = data[0], data[1]
    return "matmul", steps * batch * weight[0] * weight[1] * (weight[2] + recurrence[2])


def _bandwidth(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """Bandwidth-bound: its cost is the bytes in and out, so every output shape must be known."""
    known = all(o in shapes for o in node.output if o)
    return ("other", 0) if known else None


def _free(node: Any, shapes: Shapes) -> tuple[str, int] | None:
    """Shape arithmetic on a few integers: dispatch only."""
    return "other", 0


_register(_conv, "Conv", "ConvInteger", "QLinearConv", "FusedConv", "NhwcConv")
_register(_conv_transpose, "ConvTranspose")
_register(_gemm, "Gemm", "QGemm", "FusedGemm")
_register(
    _matmul, "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul",
    "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "MatMulNBits",
)  # fmt: skip
_register(_einsum, "Einsum")
_register(_attention, "Attention")
_register(_recurrent, "LSTM", "GRU", "RNN")
_register(_free, "Shape", "Size", "Constant", "ConstantOfShape", "Range", "NonZero")
_register(
    _bandwidth,
    # element-wise arithmetic, comparisons and activations (incl. GELU/SiLU/HardSwish forms)
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log",
    "Erf", "Tanh", "Sigmoid", "HardSigmoid", "HardSwish", "Relu", "LeakyRelu", "PRelu", "Elu",
    "Selu", "Celu", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Softplus", "Softsign", "Mish",
    "Clip", "Min", "Max", "Sum", "Mean", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor",
    "Where", "IsNaN", "IsInf", "Cast", "CastLike", "BitShift", "ThresholdedRelu", "Shrink",
    "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "BiasAdd",
    # normalisation, softmax and reductions
    "BatchNormalization", "LayerNormalization", "SkipLayerNormalization",
    "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
    "EmbedLayerNormalization", "InstanceNormalization", "GroupNormalization", "LRN",
    "LpNormalization", "MeanVarianceNormalization", "Softmax", "LogSoftmax", "Hardmax",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "CumSum", "TopK",
    # pooling and resize
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool",
    "QLinearAveragePool", "QLinearGlobalAveragePool", "Resize", "Upsample", "MaxUnpool",
    # data movement and (de)quantisation
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "QLinearConcat",
    "Split", "Slice", "Gather", "GatherElements", "GatherND", "Scatter", "ScatterElements",
    "ScatterND", "Expand", "Tile", "Pad", "Identity", "Dropout", "DepthToSpace",
    "SpaceToDepth", "OneHot", "Trilu", "ReverseSequence", "Compress",
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
)  # fmt: skip


def op_cost_rule(node: Any) -> CostRule | None:
    """The node's rule, or None for an op type no rule covers."""
    return ONNX_COSTS.get(node.op_type) if node.op_type in ONNX_COSTS else None
