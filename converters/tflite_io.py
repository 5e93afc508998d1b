"""Float32 input/output for a full-integer .tflite: QUANTIZE in front, DEQUANTIZE behind.

PT2E int8 through litert-torch always yields int8 I/O (the boundary quantise ops are folded into
the graph's signature). That suits a pipeline that feeds int8 itself, but many apps want to pass
the same float32 arrays to every variant; this rewrite gives them that without touching the
integer core: each int8/uint8 graph input gets a float32 twin that a QUANTIZE op feeds into it
(with the input's own scale and zero point), and each integer output a DEQUANTIZE into a float32
twin. Signature defs follow, so named-signature runners see the float tensors.
"""

from __future__ import annotations

from edgesub.converters.tflite_edit import GraphEditor, read_model, write_model
from edgesub.errors import ConversionError

# TFLite op versions for int8 <-> float32 (what the reference kernels and XNNPACK register).
_QUANTIZE_VERSION = 2
_DEQUANTIZE_VERSION = 2


def with_float_io(model_bytes: bytes) -> bytes:
    """``model_bytes`` with float32 inputs/outputs in place of its quantised integer ones."""
    model = read_model(model_bytes)
    if len(model.subgraphs) != 1:
        raise ConversionError(
            f"float I/O rewrite supports single-subgraph models, this one has "
            f"{len(model.subgraphs)}"
        )
    edit = GraphEditor(model)
    graph, types = edit.sub, edit.schema.TensorType
    renamed: dict[int, int] = {}
    front, back = [], []
    for position, index in enumerate(graph.inputs):
        if graph.tensors[index].type in (types.INT8, types.UINT8):
            twin = _float_twin(edit, index)
            front.append(edit.op("QUANTIZE", _QUANTIZE_VERSION, [twin], [index]))
            graph.inputs[position] = renamed[index] = twin
    for position, index in enumerate(graph.outputs):
        if graph.tensors[index].type in (types.INT8, types.UINT8):
            twin = _float_twin(edit, index)
            back.append(edit.op("DEQUANTIZE", _DEQUANTIZE_VERSION, [index], [twin]))
            graph.outputs[position] = renamed[index] = twin
    graph.operators = front + list(graph.operators) + back
    edit.retarget_signatures(renamed)
    return write_model(model)


def _float_twin(edit: GraphEditor, index: int) -> int:
    """A float32 tensor shaped like tensor ``index``; the integer one is renamed, so the float
    tensor keeps the name apps and signature runners look for."""
    original = edit.sub.tensors[index]
    name = original.name.decode() if isinstance(original.name, bytes) else str(original.name)
    twin = edit.tensor(name, original.shape, edit.schema.TensorType.FLOAT32)
    edit.sub.tensors[twin].shapeSignature = original.shapeSignature
    original.name = (name + "_int8").encode()
    return twin
