"""Export and quantisation backends (ONNX, TFLite), verification and the artifact manifest.

Importing this package is cheap: each backend imports torch, onnx, onnxruntime or litert_torch
only inside the function that needs it, and ``run_artifact`` needs only a runtime (onnxruntime or
a TFLite interpreter), so it works on a device without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edgesub.converters import keras_source, onnx_export, tflite_export, torch_sources
from edgesub.converters.artifact_set import convert
from edgesub.converters.formats import ArtifactFormat, artifact_formats, format_for_file
from edgesub.converters.manifest import load_manifest, read_manifest
from edgesub.converters.manifest_record import ArtifactEntry, Manifest, ModelInfo
from edgesub.converters.prediction import predict
from edgesub.converters.sources import SOURCES, SourceRequest, convert_source
from edgesub.errors import ModelFileError

__all__ = [
    "SOURCES",
    "ArtifactEntry",
    "ArtifactFormat",
    "Manifest",
    "ModelInfo",
    "SourceRequest",
    "artifact_formats",
    "convert",
    "convert_source",
    "describe_io",
    "keras_source",
    "load_manifest",
    "onnx_export",
    "predict",
    "read_manifest",
    "run_artifact",
    "tflite_export",
    "torch_sources",
]


def run_artifact(
    path: Path, x: np.ndarray | Mapping[str, np.ndarray], *, threads: int = 1
) -> np.ndarray:
    """Float logits of any .onnx/.tflite file: on float ``x`` (N × input shape) for a
    single-input file, or on input name → N × that input (token ids, masks) for several.

    Integer I/O is (de)quantised with the file's own parameters; fixed-batch files are fed in
    chunks of their batch size.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    feeds = x if isinstance(x, Mapping) else np.asarray(x, dtype=np.float32)
    return format_for_file(path).run(path, feeds, threads)


def describe_io(path: Path) -> dict[str, list[dict]]:
    """Inputs and outputs of a model file as manifest records (name, shape, dtype, quantization)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return format_for_file(path).describe(path)
