"""Tracing a torch module to one self-contained ONNX file: the one way edgesub exports to ONNX.

The converters export students and users' modules with it, the profiler a run's teacher. The
TorchScript exporter (``dynamo=False``) keeps the weights inside the file, where the dynamo
exporter would write them to a side ``.onnx.data`` file that must then travel with it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgesub._deps import require
from edgesub.errors import ConversionError, first_line


def trace_to_onnx(
    module: Any,
    inputs: tuple[Any, ...],
    path: Path,
    *,
    opset: int,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
) -> None:
    """Trace ``module`` on ``inputs`` (its positional tensors) into ``path``; failure is a
    ConversionError."""
    torch = require("torch")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                inputs,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=list(input_names) if input_names else None,
                output_names=list(output_names) if output_names else None,
                dynamic_axes=dict(dynamic_axes) if dynamic_axes else None,
            )
    except torch.onnx.errors.UnsupportedOperatorError as exc:
        raise ConversionError(
            f"ONNX export failed: {first_line(exc)}; try a higher convert.opset "
            "or the 'tflite' format"
        ) from exc
    except OSError:  # a full disk or a missing folder is the caller's to say, not the exporter's
        raise
    except Exception as exc:  # the exporter raises many kinds; the reason is what matters
        raise ConversionError(f"ONNX export failed: {first_line(exc)}") from exc
