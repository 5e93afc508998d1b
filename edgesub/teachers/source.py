"""Where a teacher comes from: the spec a user gives (``--teacher``, ``teacher.source``) and the
registry of source kinds that load it.

Every kind returns a :class:`Teacher`: numpy batches in (preprocessed images, N×C×H×W or
N×H×W×C float32; or texts), N×d float32 features out, and, when the model has a classifier, its
logits. Nothing is unpickled: weights are safetensors, ONNX or ``torch.export`` files, and a
``.pt``/``.pth``/``.bin`` pickle is refused with the safe alternatives named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.errors import ConfigError, ModelFileError
from edgesub.registry import Registry

if TYPE_CHECKING:
    from edgesub.config import TeacherConfig

Batch = np.ndarray  # a batch of model inputs: float32 images, or a unicode array of texts
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
SAFE_FORMATS = (
    "a .safetensors state dict with file.py:factory, an ONNX file (model.onnx), "
    "a torch.export program (model.pt2) or a Hugging Face folder saved with safetensors (hf:DIR)"
)


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher, whatever its source.

    ``features`` maps a batch to its N×d penultimate features; ``logits`` (None for a feature
    extractor without a classifier) to its N×C scores. ``head`` is the classifier as a linear
    map of the features (weight C×d, bias C) when it is one, which logit-KD targets need.
    ``classes`` are the class names the classifier predicts, in order, when the source names
    them. ``preprocess`` is what the source itself declares about its image input (any of
    size, channels, scale, mean, std, layout); ``input_kind`` is ``"image"`` or ``"text"``.
    """

    kind: str
    source: str
    sha256: str
    input_kind: str
    features: Callable[[Batch], np.ndarray]
    logits: Callable[[Batch], np.ndarray] | None = None
    head: tuple[np.ndarray, np.ndarray] | None = None
    classes: list[str] | None = None
    preprocess: dict[str, Any] | None = None
    params: int | None = None
    module: Any = None  # the torch module behind features, when there is one (online targets)


SourceLoader = Callable[[str, "TeacherConfig"], Teacher]
TEACHER_SOURCES: Registry[SourceLoader] = Registry("teacher source")
# how a spec names its kind: a prefix, a file suffix, or ``file.py:factory``
PREFIXES = {"hf:": "hf"}
SUFFIXES = {".onnx": "onnx", ".pt2": "pt2"}


def source_kind(spec: str) -> str:
    """The registry kind a teacher spec names; pickles and unknown files are ConfigErrors."""
    for prefix, kind in PREFIXES.items():
        if spec.startswith(prefix):
            return kind
    if Path(spec).is_dir() and (Path(spec) / "config.json").is_file():
        return "hf"  # a transformers folder given without the hf: prefix
    if is_factory_spec(spec):
        return "factory"
    suffix = Path(spec).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix in PICKLE_SUFFIXES:
        raise ModelFileError(
            f"{spec} is a pickle ({suffix}), which edgesub never loads (unpickling runs code); "
            f"save the model as {SAFE_FORMATS}"
        )
    if spec in TEACHER_SOURCES:
        return spec
    if suffix or "/" in spec:
        raise ConfigError(
            f"teacher source {spec!r} is not a kind edgesub reads; give {SAFE_FORMATS}, or a "
            f"bundled teacher: {', '.join(bundled_names())}"
        )
    return TEACHER_SOURCES.get(spec) and spec  # unknown names list the known ones


def is_factory_spec(spec: str) -> bool:
    """``file.py:factory``: the user's code and the name of the function building the model."""
    path, _, factory = spec.rpartition(":")
    return bool(factory) and path.endswith(".py")


def bundled_names() -> list[str]:
    """Registered kinds that are teachers by name (not file formats)."""
    formats = {*PREFIXES.values(), *SUFFIXES.values(), "factory"}
    return [name for name in TEACHER_SOURCES.names() if name not in formats]


def load_source(cfg: TeacherConfig) -> Teacher:
    """Load ``cfg.source`` with the loader of its kind."""
    return TEACHER_SOURCES.get(source_kind(cfg.source))(cfg.source, cfg)


def existing_file(spec: str, what: str) -> Path:
    """``spec`` as a path that exists and is a regular file (a FIFO would block a reader)."""
    path = Path(spec)
    if not path.exists():
        raise ModelFileError(f"{what} {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"{what} {path} is not a regular file")
    return path
