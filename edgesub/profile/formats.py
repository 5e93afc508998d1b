"""Model files by format: importing this module registers the ONNX and TFLite graph parsers,
and :func:`load_graph` picks one by the file's suffix.

The parsers import onnx and litert only when a file is parsed, so this stays cheap to import.
"""

from __future__ import annotations

from pathlib import Path

from edgesub.errors import ModelFileError
from edgesub.limits import check_model_file
from edgesub.profile import graph_onnx, graph_tflite  # noqa: F401  (they register in LOADERS)
from edgesub.profile.graph import LOADERS, Graph, ShapeOverride


def model_format(path: Path) -> str:
    """The format of a model file by extension (``onnx`` or ``tflite``)."""
    return path.suffix.lower().lstrip(".")


def load_graph(path: str | Path, input_shape: ShapeOverride = None) -> Graph:
    """Parse an .onnx or .tflite file into a :class:`Graph` (input_shape fills unknown dims)."""
    path = Path(path)
    fmt = model_format(path)
    if fmt not in LOADERS:
        raise ModelFileError(
            f"{path.name}: unsupported model format '.{fmt}'; known: {', '.join(LOADERS.names())}"
        )
    check_model_file(path)  # a FIFO, or a file too big to be a model, is never read
    return LOADERS.get(fmt)(path, input_shape)
