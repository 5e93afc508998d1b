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

from edgesub.errors import ModelFileError
from edgesub.registry import Registry

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


CONVERTERS: Registry[ArtifactFormat] = Registry("converter")


def format_for_file(path: Path) -> ArtifactFormat:
    """The format whose extension ``path`` has; any .onnx/.tflite file runs, not only ours."""
    suffix = Path(path).suffix.lower()
    for name in CONVERTERS:
        fmt = CONVERTERS.get(name)
        if fmt.extension == suffix:
            return fmt
    known = ", ".join(CONVERTERS.get(n).extension for n in CONVERTERS)
    raise ModelFileError(f"{path}: unknown model file type '{suffix}'; expected one of {known}")
