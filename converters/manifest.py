"""``artifacts/manifest.json``: what each artifact is, how to feed it, and how well it verified.

It travels with the files to a device, so everything a runtime needs (preprocessing, labels, I/O
quantisation) is in it, and sha256 sums catch a truncated or swapped file.
"""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path
from typing import Any

from edgesub.atomic import atomic_write_json
from edgesub.config import OUTPUT_KINDS
from edgesub.converters.preprocessing import preprocessing_record
from edgesub.digest import file_sha256
from edgesub.errors import ModelFileError
from edgesub.jsonfile import loads_finite
from edgesub.labels import check_labels
from edgesub.limits import MAX_IMAGE_PIXELS, MAX_INPUT_VALUES, read_text_limited

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
_ENTRY_KEYS = ("file", "format", "precision", "size_bytes", "sha256", "inputs", "outputs", "parity")


def tool_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the tools that made an artifact (absent ones are left out)."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def model_section(name: str, data: Any, output_kind: str) -> dict[str, Any]:
    """What the model takes and means: enough to feed it and name its outputs without edgesub.

    ``output_kind`` (:mod:`outputs`) says whether the scores still need a softmax."""
    return {
        "name": name,
        "num_classes": int(data.num_classes),
        "labels": [str(label) for label in data.labels] if data.labels else None,
        "input_shape": [int(d) for d in data.input_shape],
        "preprocessing": preprocessing_record(data),
        "output_kind": output_kind,
    }


def source_model_section(
    name: str,
    num_classes: int | None,
    labels: list[str] | None,
    dims: list[int | None],
    preprocessing: dict[str, Any],
    source: dict[str, Any],
    verified_on: str,
    output_kind: str,
) -> dict[str, Any]:
    """The model section for a model file a user brought (ONNX, Keras, SavedModel): unknown
    input dims are -1, and the source file and what verification ran on are recorded."""
    return {
        "name": name,
        "num_classes": num_classes,
        "labels": labels,
        "input_shape": [-1 if d is None else d for d in dims],
        "preprocessing": preprocessing,
        "source": source,
        "verified_on": verified_on,
        "output_kind": output_kind,
    }


def write_manifest(
    out_dir: Path,
    model: dict[str, Any],
    artifacts: list[dict[str, Any]],
    recommended: dict[str, Any] | None = None,
) -> Path:
    manifest = {"schema_version": SCHEMA_VERSION, "model": model, "artifacts": artifacts}
    if recommended is not None:
        manifest["recommended"] = recommended
    return atomic_write_json(Path(out_dir) / MANIFEST_NAME, manifest)


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and check a manifest; every listed file must exist with its recorded sha256."""
    path = Path(path)
    manifest = _read(path)
    for entry in manifest["artifacts"]:
        _check_entry(path, entry)
    return manifest


def manifest_entry(path: Path, artifact: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model section and ``artifact``'s entry; only that file is checked.

    A device usually receives one artifact and the manifest, not every file the manifest lists.
    """
    path = Path(path)
    manifest = _read(path)
    for entry in manifest["artifacts"]:
        if isinstance(entry, dict) and entry.get("file") == Path(artifact).name:
            _check_entry(path, entry, Path(artifact))
            return manifest["model"], entry
    raise ModelFileError(f"{path} has no entry for {Path(artifact).name}")


def _read(path: Path) -> dict[str, Any]:
    try:
        manifest = loads_finite(read_text_limited(path, "manifest", ModelFileError))
    except ValueError as exc:  # not JSON, or NaN/Infinity in it
        raise ModelFileError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        raise ModelFileError(f"{path}: not an edgesub manifest (schema_version {SCHEMA_VERSION})")
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, list) or not isinstance(manifest.get("model"), dict):
        raise ModelFileError(f"{path}: manifest needs a 'model' table and an 'artifacts' list")
    labels = manifest["model"].get("labels")
    if labels is not None and not isinstance(labels, list):
        raise ModelFileError(f"{path}: the model's 'labels' must be a list of names")
    check_labels(labels or [], str(path))
    kind = manifest["model"].get("output_kind", "logits")
    if kind not in OUTPUT_KINDS:
        known = ", ".join(OUTPUT_KINDS)
        raise ModelFileError(f"{path}: model.output_kind must be one of {known}, got {kind!r}")
    _check_sizes(path, manifest["model"])
    return manifest


def _check_sizes(path: Path, model: dict[str, Any]) -> None:
    """The input a manifest declares is allocated as it says (a picture resized to ``size``, a
    batch of ``input_shape``), so both are bounded before anything is read (README, Limits)."""
    pre = model.get("preprocessing")
    size = pre.get("size") if isinstance(pre, dict) else None
    for key, shape, limit in (
        ("input_shape", model.get("input_shape"), MAX_INPUT_VALUES),
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


def _check_entry(manifest_path: Path, entry: Any, file: Path | None = None) -> None:
    if not isinstance(entry, dict) or any(key not in entry for key in _ENTRY_KEYS):
        raise ModelFileError(
            f"{manifest_path}: artifact entry lacks one of {', '.join(_ENTRY_KEYS)}"
        )
    file = file or manifest_path.parent / entry["file"]
    if not file.is_file():
        raise ModelFileError(f"{manifest_path}: listed artifact {entry['file']} is missing")
    if file_sha256(file) != entry["sha256"]:
        raise ModelFileError(
            f"{file}: sha256 differs from the manifest (file changed or truncated)"
        )
