"""Model files as graphs: importing this module adds the ONNX and TFLite graph parsers to their
backends (:mod:`edgesub.backends`), and :func:`load_graph` picks one by the file's extension.

The parsers import onnx and litert only when a file is parsed, so this stays cheap to import.
"""

from __future__ import annotations

from pathlib import Path

from edgesub.backends import backend_for
from edgesub.limits import check_model_file
from edgesub.profile import graph_onnx, graph_tflite  # noqa: F401  (they add the graph parsers)
from edgesub.profile.graph import Graph, ShapeOverride


def load_graph(path: str | Path, input_shape: ShapeOverride = None) -> Graph:
    """Parse an .onnx or .tflite file into a :class:`Graph` (input_shape fills unknown dims)."""
    path = Path(path)
    parse = backend_for(path).parse_graph
    check_model_file(path)  # a FIFO, or a file too big to be a model, is never read
    return parse(path, input_shape)
