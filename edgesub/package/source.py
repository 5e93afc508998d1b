"""What ``edgesub package`` is given: a run, an artifacts folder, or one model file.

Everything downstream works from a manifest (model section + artifact entries). A file without
a manifest beside it gets one built from ``--labels`` and ``--normalize``, since nothing else
says what its outputs mean or how to feed it a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from edgesub.converters.calibration import read_labels
from edgesub.converters.formats import format_for_file
from edgesub.converters.manifest import MANIFEST_NAME, manifest_entry, read_manifest
from edgesub.converters.manifest_record import (
    ArtifactEntry,
    Manifest,
    ModelInfo,
    Recommendation,
    TensorSpec,
)
from edgesub.converters.preprocessing import COLOR_MODES
from edgesub.digest import file_sha256
from edgesub.errors import ConfigError, DataError, ModelFileError
from edgesub.labels import parse_labels_text
from edgesub.limits import check_model_file
from edgesub.rundir import RunDir

RUN_ARTIFACTS = "artifacts"
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class PackageSource:
    """The files on offer and what the manifest says about them."""

    folder: Path  # holds the artifacts (and a text model's vocabulary)
    model: ModelInfo  # the manifest's model section
    entries: tuple[ArtifactEntry, ...]  # artifact entries, in manifest order
    recommendation: Recommendation | None = None  # the manifest's (None: no latency measured)
    run: RunDir | None = None  # the run the artifacts belong to, when given a run

    @property
    def recommended(self) -> dict[str, str]:
        """Format → recommended file name (may be empty)."""
        return dict(self.recommendation.by_format) if self.recommendation else {}

    def entry(self, file_name: str) -> ArtifactEntry:
        for entry in self.entries:
            if entry.file == file_name:
                return entry
        known = ", ".join(e.file for e in self.entries)
        raise ConfigError(f"no artifact named {file_name}; this source has: {known}")

    def choose(
        self, names: Sequence[str], formats: Sequence[str] | None = None
    ) -> list[ArtifactEntry]:
        """The artifacts named, else the recommended one per format, else all (of ``formats``)."""
        if names:
            return [self.entry(name) for name in dict.fromkeys(names)]
        usable = [e for e in self.entries if formats is None or e.format in formats]
        picked = [e for e in usable if e.file in self.recommended.values()]
        return picked or usable


def resolve_source(
    path: Path, labels: Path | None = None, normalize: Sequence[float] | None = None
) -> PackageSource:
    """A run directory, a folder holding manifest.json, or one .onnx/.tflite file."""
    path = Path(path)
    if path.is_dir():
        _no_overrides(path, labels, normalize)
        for folder in (path / RUN_ARTIFACTS, path):
            if (folder / MANIFEST_NAME).is_file():
                manifest: Manifest = read_manifest(folder / MANIFEST_NAME)
                _plain_names(folder / MANIFEST_NAME, manifest.model, manifest.artifacts)
                run = RunDir(folder.parent)
                run = run if folder.name == RUN_ARTIFACTS and run.config.is_file() else None
                return PackageSource(
                    folder, manifest.model, manifest.artifacts, manifest.recommended, run
                )
        raise ModelFileError(
            f"{path} holds no {MANIFEST_NAME} (nor {RUN_ARTIFACTS}/{MANIFEST_NAME}); "
            + RunDir(path).missing_hint("convert")
        )
    if not path.exists():
        raise ModelFileError(f"not found: {path}")
    fmt = format_for_file(path)
    check_model_file(path)  # a FIFO is never read; nor a file larger than a model can be
    if (path.parent / MANIFEST_NAME).is_file():
        _no_overrides(path, labels, normalize)
        model, entry = manifest_entry(path.parent / MANIFEST_NAME, path)
        _plain_names(path.parent / MANIFEST_NAME, model, [entry])
        return PackageSource(path.parent, model, (entry,))
    if labels is None or normalize is None:
        raise ConfigError(
            f"{path.name} has no {MANIFEST_NAME} beside it: give --labels FILE (class names, one "
            "per line) and --normalize MEAN,STD (how 0..255 pixels are normalised, e.g. "
            "127.5,127.5) so the bundle can say what the outputs mean and how to feed it"
        )
    io = fmt.describe(path)
    entry = ArtifactEntry(
        file=path.name,
        format=fmt.name,
        precision=None,
        size_bytes=path.stat().st_size,
        sha256=file_sha256(path),
        inputs=tuple(TensorSpec.from_dict(spec, path.name) for spec in io["inputs"]),
        outputs=tuple(TensorSpec.from_dict(spec, path.name) for spec in io["outputs"]),
        parity=None,
    )
    model = _model_without_manifest(path, entry, read_labels(labels), list(normalize))
    entry = entry.replace(input_layout=model.preprocessing["layout"])
    return PackageSource(path.parent, model, (entry,))


def _plain_names(manifest: Path, model: ModelInfo, entries: Sequence[ArtifactEntry]) -> None:
    """Files a manifest names are copied into the bundle: they must stay beside it."""
    tokenizer = model.preprocessing.get("tokenizer") or {}
    for name in [entry.file for entry in entries] + [tokenizer.get("vocab", "vocab.txt")]:
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ModelFileError(f"{manifest}: {name!r} is not a plain file name beside it")


def _no_overrides(path: Path, labels: Path | None, normalize: Sequence[float] | None) -> None:
    if labels is not None or normalize is not None:
        raise ConfigError(
            f"--labels and --normalize are for a model file without a manifest; {path.name}'s "
            f"{MANIFEST_NAME} already gives its labels and preprocessing"
        )


def _model_without_manifest(
    path: Path, entry: ArtifactEntry, labels: list[str], normalize: list[float]
) -> ModelInfo:
    """A manifest model section for an image classifier described only by the user's flags."""
    shape = list(entry.inputs[0].shape) if len(entry.inputs) == 1 else []
    if len(shape) != 4:
        raise ModelFileError(
            f"{path.name}: --labels/--normalize describe an image classifier with one "
            f"N×H×W×C or N×C×H×W input; this model's inputs are "
            f"{[list(i.shape) for i in entry.inputs]}"
        )
    layout = "NHWC" if shape[3] in COLOR_MODES else "NCHW" if shape[1] in COLOR_MODES else None
    if layout is None:
        raise ModelFileError(f"{path.name}: input {shape} is not a 1- or 3-channel image")
    channels, height, width = (shape[3], *shape[1:3]) if layout == "NHWC" else shape[1:]
    half = len(normalize) // 2
    if len(normalize) not in (2, 2 * channels) or normalize[half:].count(0):
        raise ConfigError(
            f"--normalize takes MEAN,STD or {channels} means then {channels} stds (std ≠ 0), "
            f"got {len(normalize)} values"
        )
    classes = entry.outputs[0].shape[-1] if entry.outputs else -1
    if classes != len(labels):
        raise DataError(f"{len(labels)} labels given; {path.name} outputs {classes} scores")
    return ModelInfo(
        name=path.stem,
        num_classes=len(labels),
        labels=tuple(labels),
        input_shape=tuple(shape[1:]),
        preprocessing={
            "input": "image",
            "layout": layout,
            "channels": channels,
            "color": COLOR_MODES[channels],
            "size": [height, width],
            "value_range": [0.0, 255.0],
            "scale": 1.0,
            "mean": normalize[:half],
            "std": normalize[half:],
        },
    )


def class_names(model: ModelInfo) -> list[str]:
    """The manifest's labels, else the class indices as names."""
    return model.class_names


def check_read_back(text: str, labels: list[str], where: str) -> None:
    """A labels file read back as a client reads it must give the manifest's names in order;
    equal bytes are not enough (a name holding a line break shifts every later class)."""
    read = parse_labels_text(text)
    for index, (got, meant) in enumerate(zip_longest(read, labels)):
        if got != meant:
            raise ModelFileError(
                f"{where} does not read back as the manifest's labels: class {index} reads as "
                f"{got!r}, the manifest names it {meant!r} ({len(read)} read, {len(labels)} meant)"
            )
