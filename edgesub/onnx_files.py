"""ONNX files that keep their weights beside them (``external data``, e.g. ``model.onnx.data``).

Exporters write such files for large models (and torch's dynamo exporter always does); the
weights file must travel with the graph. Both the profiler and the converters check it up front,
so a missing or truncated side file is named instead of surfacing as a protobuf or ORT error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesub._deps import require
from edgesub.errors import ModelFileError

# ONNX Runtime names tensor types as strings; the numpy dtype of each one a model input can carry.
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def external_data_files(path: Path) -> dict[str, int]:
    """Side files ``path`` reads its weights from, with the bytes each must hold at least.

    An unreadable graph has none: callers report that their own way.
    """
    onnx = require("onnx")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError and friends
        return {}
    needed: dict[str, int] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        end = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
        location = info.get("location", "")
        needed[location] = max(needed.get(location, 0), end)
    return needed


def check_external_data(path: Path) -> None:
    """Raise a clear error when a side file of ``path`` is missing, outside it, or too short."""
    path = Path(path)
    folder = path.resolve().parent
    for location, end in external_data_files(path).items():
        side = (folder / location).resolve()
        if not side.is_relative_to(folder):
            raise ModelFileError(
                f"{path.name}: external data '{location}' points outside the model's folder"
            )
        if not side.is_file():
            raise ModelFileError(
                f"{path.name} keeps its weights in '{location}', which is missing; copy it "
                "beside the .onnx file"
            )
        if side.stat().st_size < end:
            raise ModelFileError(
                f"{path.name}: external data '{location}' holds {side.stat().st_size} bytes, "
                f"the model needs {end} (truncated?)"
            )


def cpu_session(model: str | bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session on a file name or serialized model: ``threads`` intra-op
    threads, one inter-op, warnings and below not logged. Callers word its errors."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
