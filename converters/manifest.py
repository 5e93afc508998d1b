"""``artifacts/manifest.json``: what each artifact is, how to feed it, and how well it verified.

It travels with the files to a device, so everything a runtime needs (preprocessing, labels, I/O
quantisation) is in it, and sha256 sums catch a truncated or swapped file. The record types and
their keys are :mod:`manifest_record`'s (docs/schemas.md); this module makes and checks them.
"""

from __future__ import annotations

import math
import shlex
from importlib import metadata
from pathlib import Path
from typing import Any

from edgesub.config import OUTPUT_KINDS
from edgesub.converters.manifest_record import (
    MANIFEST_NAME,
    ArtifactEntry,
    Manifest,
    ModelInfo,
)
from edgesub.converters.outputs import DEFAULT_KIND
from edgesub.converters.preprocessing import preprocessing_record
from edgesub.digest import file_sha256
from edgesub.errors import ModelFileError
from edgesub.labels import check_labels
from edgesub.limits import MAX_IMAGE_PIXELS, MAX_INPUT_VALUES

SCHEMA_VERSION = Manifest.SCHEMA_VERSION


def tool_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the tools that made an artifact (absent ones are left out)."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def model_section(name: str, data: Any, output_kind: str) -> ModelInfo:
    """What the model takes and means: enough to feed it and name its outputs without edgesub.

    ``output_kind`` (:mod:`outputs`) says whether the scores still need a softmax."""
    return ModelInfo(
        name=name,
        num_classes=int(data.num_classes),
        labels=tuple(str(label) for label in data.labels) if data.labels else None,
        input_shape=tuple(int(d) for d in data.input_shape),
        preprocessing=preprocessing_record(data),
        output_kind=output_kind,
    )


def source_model_section(
    name: str,
    num_classes: int | None,
    labels: list[str] | None,
    dims: list[int | None],
    preprocessing: dict[str, Any],
    source: dict[str, Any],
    verified_on: str,
    output_kind: str,
) -> ModelInfo:
    """The model section for a model file a user brought (ONNX, Keras, SavedModel): unknown
    input dims are -1, and the source file and what verification ran on are recorded."""
    return ModelInfo(
        name=name,
        num_classes=num_classes,
        labels=tuple(labels) if labels else labels,
        input_shape=tuple(-1 if d is None else d for d in dims),
        preprocessing=preprocessing,
        source=source,
        verified_on=verified_on,
        output_kind=output_kind,
    )


def write_manifest(out_dir: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` into ``out_dir`` atomically."""
    return manifest.write(Path(out_dir) / MANIFEST_NAME)


def read_manifest(path: Path) -> Manifest:
    """Read and check a manifest; every listed file must exist with its recorded sha256."""
    path = Path(path)
    manifest = _read(path)
    for entry in manifest.artifacts:
        _check_entry(path, entry)
    return manifest


def load_manifest(path: Path) -> dict[str, Any]:
    """:func:`read_manifest` as plain JSON data, for scripts (edgesub itself reads the record)."""
    return read_manifest(path).to_dict()


def manifest_entry(path: Path, artifact: Path) -> tuple[ModelInfo, ArtifactEntry]:
    """The model section and ``artifact``'s entry; only that file is checked.

    A device usually receives one artifact and the manifest, not every file the manifest lists.
    """
    path = Path(path)
    manifest = _read(path)
    entry = manifest.entry(Path(artifact).name)
    if entry is None:
        raise ModelFileError(f"{path} has no entry for {Path(artifact).name}")
    _check_entry(path, entry, Path(artifact))
    return manifest.model, entry


def _read(path: Path) -> Manifest:
    run = path.parent.parent
    in_run = path.parent.name == "artifacts" and (run / "config.toml").is_file()
    again = f"edgesub convert {shlex.quote(str(run))}" if in_run else "edgesub convert SOURCE"
    manifest = Manifest.read(path, error=ModelFileError, rewrite=again)
    check_model_info(manifest.model, str(path))
    return manifest


def check_model_info(model: ModelInfo, where: str) -> None:
    """What the record's types cannot say: label names a client reads back as written, a known
    output kind, and inputs small enough to allocate."""
    check_labels(list(model.labels or []), where)
    kind = model.output_kind or DEFAULT_KIND
    if kind not in OUTPUT_KINDS:
        known = ", ".join(OUTPUT_KINDS)
        raise ModelFileError(f"{where}: model.output_kind must be one of {known}, got {kind!r}")
    _check_sizes(where, model)


def _check_sizes(path: str, model: ModelInfo) -> None:
    """The input a manifest declares is allocated as it says (a picture resized to ``size``, a
    batch of ``input_shape``), so both are bounded before anything is read (README, Limits)."""
    size = model.preprocessing.get("size")
    for key, shape, limit in (
        ("input_shape", list(model.input_shape), MAX_INPUT_VALUES),
        ("preprocessing.size", size, MAX_IMAGE_PIXELS),
    ):
        if shape is None:
            continue
        if not isinstance(shape, list) or not all(_is_dim(d) for d in shape):
            raise ModelFileError(f"{path}: model.{key} must be a list of integers, got {shape!r}")
        values = math.prod(d for d in shape if d > 0)
        if values > limit:
            raise ModelFileError(
                f"{path}: model.{key} {shape} holds {values:,} values; the limit is {limit:,}"
            )


def _is_dim(value: Any) -> bool:
    """A dimension: a positive int, or -1 for a dynamic one."""
    return isinstance(value, int) and not isinstance(value, bool) and (value > 0 or value == -1)


def _check_entry(manifest_path: Path, entry: ArtifactEntry, file: Path | None = None) -> None:
    file = file or manifest_path.parent / entry.file
    if not file.is_file():
        raise ModelFileError(f"{manifest_path}: listed artifact {entry.file} is missing")
    if file_sha256(file) != entry.sha256:
        raise ModelFileError(
            f"{file}: sha256 differs from the manifest (file changed or truncated)"
        )
