"""Model file formats, one :class:`Backend` each, looked up by name or by a file's extension.

Each stage adds the part of a format it owns when its module is imported: the profiler a graph
parser and a timing runtime, the converters an artifact format (exporters per precision, a
runner, an I/O reader). The import layers stay one-way, nothing heavy loads until a part is
used, and every command that takes a model file finds its format here, so an unknown extension
gets the same one line everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edgesub.errors import ModelFileError
from edgesub.registry import Registry

T = TypeVar("T")

# The parts a backend can have, and what a command cannot do with a format that lacks one.
PARTS = {"graph": "parse the graph of", "runtime": "measure", "artifact": "convert to or run"}


class Backend:
    """One model file format and what edgesub can do with it."""

    def __init__(self, name: str, extension: str, label: str) -> None:
        self.name = name
        self.extension = extension  # with the dot, e.g. ".onnx"
        self.label = label  # as users write it, e.g. "TFLite"
        self._parts: dict[str, Any] = {}

    def provides(self, part: str) -> Callable[[T], T]:
        """Decorator adding ``part`` (a key of :data:`PARTS`) once; twice is a programming error."""

        def add(value: T) -> T:
            if part not in PARTS or part in self._parts:
                raise ValueError(f"{self.name} backend: part {part!r} unknown or given twice")
            self._parts[part] = value
            return value

        return add

    def _part(self, part: str) -> Any:
        try:
            return self._parts[part]
        except KeyError:
            raise ModelFileError(f"edgesub cannot {PARTS[part]} {self.label} files") from None

    @property
    def parse_graph(self) -> Any:
        """``(path, input_shape) -> Graph`` (edgesub.profile)."""
        return self._part("graph")

    @property
    def runtime(self) -> Any:
        """The ``Runtime`` class that loads and times files (edgesub.profile.runtimes)."""
        return self._part("runtime")

    @property
    def artifact(self) -> Any:
        """The ``ArtifactFormat``: exporters, runner, I/O reader (edgesub.converters)."""
        return self._part("artifact")

    def has(self, part: str) -> bool:
        return part in self._parts


BACKENDS: Registry[Backend] = Registry("model format")
for _backend in (Backend("onnx", ".onnx", "ONNX"), Backend("tflite", ".tflite", "TFLite")):
    BACKENDS.add(_backend.name, _backend)


def backend_for(path: str | Path) -> Backend:
    """The backend of a file, by its extension; an unknown one lists the known extensions."""
    suffix = Path(path).suffix.lower()
    for name in BACKENDS:
        if BACKENDS.get(name).extension == suffix:
            return BACKENDS.get(name)
    known = ", ".join(BACKENDS.get(n).extension for n in BACKENDS)
    shown = f"'{suffix}'" if suffix else "(no extension)"
    raise ModelFileError(f"{Path(path).name}: unsupported model format {shown}; known: {known}")
