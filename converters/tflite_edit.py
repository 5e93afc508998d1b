"""Small in-place edits of a .tflite model object (``ModelT`` from ai-edge-litert's schema).

Adding a boundary operator (QUANTIZE, DEQUANTIZE, TRANSPOSE, SOFTMAX, …) means a new tensor, a
buffer, an operator code and an operator; this keeps that bookkeeping in one place for the
float-I/O rewrite of int8 files and the Android image-classifier adapter. Needs only the runtime
extra (the schema ships with the LiteRT interpreter).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesub._deps import require

# Builtin codes past 127 live only in ``builtinCode``; the legacy int8 field then holds this.
_PLACEHOLDER_FOR_GREATER_OP_CODES = 127


def read_model(model_bytes: bytes) -> Any:
    """A mutable ``ModelT`` of a .tflite file's bytes."""
    utils = require("ai_edge_litert.tools.flatbuffer_utils")
    return utils.read_model_from_bytearray(bytearray(model_bytes))


def write_model(model: Any) -> bytes:
    utils = require("ai_edge_litert.tools.flatbuffer_utils")
    return bytes(utils.convert_object_to_bytearray(model))


class GraphEditor:
    """Appends tensors, buffers and operators to the main subgraph of a ``ModelT``."""

    def __init__(self, model: Any) -> None:
        self.schema = require("ai_edge_litert.schema_py_generated")
        self.model = model
        self.sub = model.subgraphs[0]

    def tensor(
        self, name: str, shape: list[int], dtype: int, data: np.ndarray | None = None
    ) -> int:
        """Index of a new tensor; ``data`` makes it a constant."""
        tensor = self.schema.TensorT()
        tensor.name, tensor.shape, tensor.type = name.encode(), list(shape), dtype
        tensor.buffer = self.buffer(data)
        self.sub.tensors.append(tensor)
        return len(self.sub.tensors) - 1

    def buffer(self, data: np.ndarray | None) -> int:
        """Index of a new model buffer holding ``data``'s bytes (empty for None)."""
        buffer = self.schema.BufferT()
        if data is not None:
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
        self.model.buffers.append(buffer)
        return len(self.model.buffers) - 1

    def op(
        self,
        code: str,
        version: int,
        inputs: list[int],
        outputs: list[int],
        options: tuple[str, Any] | None = None,
    ) -> Any:
        """A new operator (not yet placed in the graph: callers decide where it runs)."""
        op = self.schema.OperatorT()
        op.opcodeIndex = self._opcode(getattr(self.schema.BuiltinOperator, code), version)
        op.inputs, op.outputs = inputs, outputs
        if options is not None:
            op.builtinOptionsType = getattr(self.schema.BuiltinOptions, options[0])
            op.builtinOptions = options[1]
        return op

    def _opcode(self, builtin: int, version: int) -> int:
        for i, code in enumerate(self.model.operatorCodes):
            if self._builtin(code) == builtin and code.version == version:
                return i
        code = self.schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(builtin, _PLACEHOLDER_FOR_GREATER_OP_CODES)
        code.version = version
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    @staticmethod
    def _builtin(code: Any) -> int:
        return max(code.builtinCode, code.deprecatedBuiltinCode)

    def producer(self, tensor: int) -> str | None:
        """The builtin operator name that writes ``tensor`` (None for a graph input)."""
        names = {
            v: k for k, v in vars(self.schema.BuiltinOperator).items() if not k.startswith("_")
        }
        for op in self.sub.operators:
            if tensor in list(op.outputs):
                return names.get(self._builtin(self.model.operatorCodes[op.opcodeIndex]))
        return None

    def retarget_signatures(self, renamed: dict[int, int]) -> None:
        """Point signature-def entries at replacement tensors (old index → new index)."""
        for signature in self.model.signatureDefs or []:
            for tensor_map in [*(signature.inputs or []), *(signature.outputs or [])]:
                tensor_map.tensorIndex = renamed.get(tensor_map.tensorIndex, tensor_map.tensorIndex)
