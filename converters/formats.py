"""What a converter backend is, and the registry the pipeline and the runtime look formats up in.

A format bundles its exporters (one per precision), a runner that executes its files without
torch, and a reader of its I/O signature. The pipeline never branches on a format's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.backends import BACKENDS, backend_for

if TYPE_CHECKING:
    import torch

    from edgesub.config import ConvertConfig


@dataclass(frozen=True)
class ExportJob:
    """Everything an exporter needs besides the model: a sample input, calibration data, options."""

    # float32, shape (1, *input_shape); or input name → one sample, in the forward's order
    sample: np.ndarray | Mapping[str, np.ndarray]
    calibration: np.ndarray | Mapping[str, np.ndarray]  # n samples of each, finite
    cfg: ConvertConfig


Exporter = Callable[["torch.nn.Module", ExportJob, Path], None]
Runner = Callable[[Path, np.ndarray, int], np.ndarray]
Describer = Callable[[Path], dict[str, list[dict[str, Any]]]]


def integer_weight_bits(precision: str) -> int | None:
    """8 for the int8 precisions, None for float files: what most exporters write."""
    return 8 if precision.startswith("int8") else None


@dataclass(frozen=True)
class ArtifactFormat:
    """One deployable file format: how to write it at each precision and how to run it."""

    name: str
    extension: str  # with the dot, e.g. ".onnx"
    input_layout: str  # the layout the exported file takes; both backends keep torch's NCHW
    exporters: Mapping[str, Exporter]
    run: Runner
    describe: Describer
    tools: tuple[str, ...]  # distributions whose versions the manifest records
    # Export in a child process (converters.export_worker): for exporters that sit in native
    # code for seconds, which a Ctrl-C could otherwise neither stop nor safely interrupt.
    isolated: bool = False
    # What the worker runs as soon as it starts (imports), overlapping the parent's work.
    warm_up: Callable[[], None] | None = None
    # Bits of the quantised weights a precision gets here (the manifest records them).
    weight_bits: Callable[[str], int | None] = integer_weight_bits


def add_format(fmt: ArtifactFormat) -> ArtifactFormat:
    """Give the backend of ``fmt.name`` (:mod:`edgesub.backends`) its artifact part."""
    backend = BACKENDS.get(fmt.name)
    if backend.extension != fmt.extension:
        raise ValueError(f"{fmt.name}: extension {fmt.extension} is not {backend.extension}")
    return backend.provides("artifact")(fmt)


def artifact_format(name: str) -> ArtifactFormat:
    """The artifact format named ``name``; an unknown name lists the known ones."""
    return BACKENDS.get(name).artifact


def artifact_formats() -> list[str]:
    """The names of the formats edgesub converts to (and runs)."""
    return [name for name in BACKENDS if BACKENDS.get(name).has("artifact")]


def format_for_file(path: Path) -> ArtifactFormat:
    """The format whose extension ``path`` has; any .onnx/.tflite file runs, not only ours."""
    return backend_for(path).artifact
