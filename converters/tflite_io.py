"""Float32 input/output for a full-integer .tflite: QUANTIZE in front, DEQUANTIZE behind.

PT2E int8 through litert-torch always yields int8 I/O (the boundary quantise ops are folded into
the graph's signature). That suits a pipeline that feeds int8 itself, but many apps want to pass
the same float32 arrays to every variant; this rewrite gives them that without touching the
integer core: each int8/uint8 graph input gets a float32 twin that a QUANTIZE op feeds into it
(with the input's own scale and zero point), and each integer output a DEQUANTIZE into a float32
twin. Signature defs follow, so named-signature runners see the float tensors.
"""

from __future__ import annotations

import copy
from typing import Any

from edgesub._deps import require
from edgesub.errors import ConversionError

# TFLite op versions for int8/uint8 <-> float32 (versions 1-2 are what the reference kernels and
# XNNPACK register for these type pairs).
_QUANTIZE_VERSION = 2
_DEQUANTIZE_VERSION = 2


def with_float_io(model_bytes: bytes) -> bytes:
    """``model_bytes`` with float32 inputs/outputs in place of its quantised integer ones."""
    schema = require("ai_edge_litert.schema_py_generated")
    utils = require("ai_edge_litert.tools.flatbuffer_utils")
    model = utils.read_model_from_bytearray(bytearray(model_bytes))
    if len(model.subgraphs) != 1:
        raise ConversionError(
            f"float I/O rewrite supports single-subgraph models, this one has "
            f"{len(model.subgraphs)}"
        )
    graph = model.subgraphs[0]
    integer = (schema.TensorType.INT8, schema.TensorType.UINT8)
    renamed: dict[int, int] = {}
    front, back = [], []
    quantize = _opcode(model, schema, schema.BuiltinOperator.QUANTIZE, _QUANTIZE_VERSION)
    dequantize = _opcode(model, schema, schema.BuiltinOperator.DEQUANTIZE, _DEQUANTIZE_VERSION)
    for position, index in enumerate(graph.inputs):
        if graph.tensors[index].type in integer:
            twin = _float_twin(model, graph, index, schema)
            front.append(_op(schema, quantize, twin, index))
            graph.inputs[position] = renamed[index] = twin
    for position, index in enumerate(graph.outputs):
        if graph.tensors[index].type in integer:
            twin = _float_twin(model, graph, index, schema)
            back.append(_op(schema, dequantize, index, twin))
            graph.outputs[position] = renamed[index] = twin
    graph.operators = front + list(graph.operators) + back
    for signature in model.signatureDefs or []:
        for tensor_map in [*(signature.inputs or []), *(signature.outputs or [])]:
            tensor_map.tensorIndex = renamed.get(tensor_map.tensorIndex, tensor_map.tensorIndex)
    return bytes(utils.convert_object_to_bytearray(model))


def _float_twin(model: Any, graph: Any, index: int, schema: Any) -> int:
    """Add a float32 tensor shaped like tensor ``index``; the integer one is renamed, so the
    float tensor keeps the name apps and signature runners look for."""
    original = graph.tensors[index]
    twin = copy.copy(original)
    twin.type = schema.TensorType.FLOAT32
    twin.quantization = None
    model.buffers.append(schema.BufferT())
    twin.buffer = len(model.buffers) - 1
    original.name = _name(original.name) + "_int8"
    graph.tensors.append(twin)
    return len(graph.tensors) - 1


def _name(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _opcode(model: Any, schema: Any, builtin: int, version: int) -> int:
    """Index of ``builtin`` in the model's operator codes, added when it is not there yet."""
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, version)
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    # codes past 127 live only in builtinCode; the deprecated byte then holds the placeholder
    placeholder = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    code.deprecatedBuiltinCode = min(builtin, placeholder)
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _op(schema: Any, opcode: int, source: int, target: int) -> Any:
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = [source]
    op.outputs = [target]
    return op
