"""Cost rules of TFLite builtin ops, a registry keyed by op name.

TFLite files store every tensor's shape, so a registered op always has a cost: ``(kind, MACs)``
from its tensors (weights are laid out [O, H, W, I]; DEPTHWISE [1, H, W, O]). MACs count
convolutions and matrix products, as published model counts do; an op's
``fused_activation_function`` is part of it and costs nothing more (standalone activations the
runtime fuses are merged by :mod:`edgesub.profile.fusion`). Element-wise, normalisation,
pooling, resize and data-movement ops cost their bytes. An op no rule covers (control flow,
recurrent kernels, unknown builtins, custom ops) is uncosted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from edgesub._deps import require
from edgesub.registry import Registry

CostRule = Callable[[Any, list[int], list[int], list[dict]], tuple[str, int]]
TFLITE_COSTS: Registry[CostRule] = Registry("TFLite op cost rule")


def _register(rule: CostRule, *op_types: str) -> None:
    for op_type in op_types:
        TFLITE_COSTS.add(op_type, rule)


def _shape(tensors: list[dict], ins: list[int], at: int) -> tuple[int, ...]:
    return tensors[ins[at]]["shape"] if len(ins) > at else ()


def _elements(shape: tuple[int, ...]) -> int:
    return math.prod(max(d, 1) for d in shape)


def _out(tensors: list[dict], outs: list[int]) -> int:
    return _elements(tensors[outs[0]]["shape"])


def _conv(op: Any, ins: list[int], outs: list[int], tensors: list[dict]) -> tuple[str, int]:
    weight = _shape(tensors, ins, 1)  # [O, H, W, I]: the reduction is H·W·I (I per group)
    kind = "pointwise" if math.prod(weight[1:3]) == 1 else "conv"
    return kind, _out(tensors, outs) * math.prod(weight[1:])


def _conv3d(op: Any, ins: list[int], outs: list[int], tensors: list[dict]) -> tuple[str, int]:
    weight = _shape(tensors, ins, 1)  # [D, H, W, I, O]
    return "conv", _out(tensors, outs) * math.prod(weight[:4])


def _depthwise(op: Any, ins: list[int], outs: list[int], tensors: list[dict]) -> tuple[str, int]:
    weight = _shape(tensors, ins, 1)  # [1, H, W, O]
    return "depthwise", _out(tensors, outs) * weight[1] * weight[2]


def _transpose_conv(
    op: Any, ins: list[int], outs: list[int], tensors: list[dict]
) -> tuple[str, int]:
    """Each input element scatters into O·H·W outputs (builtin inputs: shape, weights, data)."""
    data = _shape(tensors, ins, 2)
    return "conv", _elements(data) * math.prod(_shape(tensors, ins, 1)[:3])


def _transpose_conv_bias(
    op: Any, ins: list[int], outs: list[int], tensors: list[dict]
) -> tuple[str, int]:
    """MediaPipe's custom form: inputs data, weights [O, H, W, I], bias."""
    data = _shape(tensors, ins, 0)
    return "conv", _elements(data) * math.prod(_shape(tensors, ins, 1)[:3])


def _fully_connected(
    op: Any, ins: list[int], outs: list[int], tensors: list[dict]
) -> tuple[str, int]:
    """Output elements × input features; keep_num_dims only changes the output's rank."""
    return "matmul", _out(tensors, outs) * _shape(tensors, ins, 1)[-1]


def _batch_matmul(op: Any, ins: list[int], outs: list[int], tensors: list[dict]) -> tuple[str, int]:
    """Output elements × the contracted length, read from lhs honouring adj_x."""
    lhs = _shape(tensors, ins, 0)
    adj_x = _adjoint_x(op)
    k = lhs[-2] if adj_x and len(lhs) > 1 else (lhs[-1] if lhs else 1)
    return "matmul", _out(tensors, outs) * k


def _adjoint_x(op: Any) -> bool:
    options = builtin_options(op, "BatchMatMulOptions")
    return bool(options.AdjX()) if options is not None else False


def builtin_options(op: Any, kind: str) -> Any | None:
    """The op's options table of schema type ``kind`` (e.g. "Conv2DOptions"), or None."""
    schema = require("ai_edge_litert.schema_py_generated")
    table = op.BuiltinOptions()
    if table is None or op.BuiltinOptionsType() != getattr(schema.BuiltinOptions, kind):
        return None
    options = getattr(schema, kind)()
    options.Init(table.Bytes, table.Pos)
    return options


def _bandwidth(op: Any, ins: list[int], outs: list[int], tensors: list[dict]) -> tuple[str, int]:
    """Bandwidth-bound: the bytes in and out are its cost."""
    return "other", 0


_register(_conv, "CONV_2D")
_register(_conv3d, "CONV_3D")
_register(_depthwise, "DEPTHWISE_CONV_2D")
_register(_transpose_conv, "TRANSPOSE_CONV")
_register(_transpose_conv_bias, "Convolution2DTransposeBias")
_register(_fully_connected, "FULLY_CONNECTED")
_register(_batch_matmul, "BATCH_MATMUL")
_register(
    _bandwidth,
    # element-wise arithmetic, comparisons and activations (incl. GELU, HARD_SWISH, LOGISTIC)
    "ADD", "ADD_N", "SUB", "MUL", "DIV", "FLOOR_DIV", "FLOOR_MOD", "POW", "SQUARED_DIFFERENCE",
    "MAXIMUM", "MINIMUM", "NEG", "ABS", "SQRT", "RSQRT", "SQUARE", "EXP", "LOG", "SIN", "COS",
    "TANH", "LOGISTIC", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU",
    "ELU", "HARD_SWISH", "GELU", "FLOOR", "CEIL", "ROUND", "SIGN", "ATAN2", "EQUAL",
    "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "LOGICAL_AND", "LOGICAL_OR",
    "LOGICAL_NOT", "SELECT", "SELECT_V2", "CAST", "QUANTIZE", "DEQUANTIZE",
    # normalisation, softmax and reductions
    "SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION", "LOCAL_RESPONSE_NORMALIZATION", "MEAN", "SUM",
    "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL", "ARG_MAX",
    "ARG_MIN", "CUMSUM", "TOPK_V2",
    # pooling and resize
    "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    # data movement and shape arithmetic
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "SPLIT", "SPLIT_V",
    "SLICE", "STRIDED_SLICE", "GATHER", "GATHER_ND", "SCATTER_ND", "TILE", "BROADCAST_TO",
    "PAD", "PADV2", "MIRROR_PAD", "PACK", "UNPACK", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "ONE_HOT", "ZEROS_LIKE", "ONES_LIKE", "FILL",
    "SHAPE", "RANK", "RANGE", "REVERSE_V2", "EMBEDDING_LOOKUP", "BROADCAST_ARGS",
)  # fmt: skip
