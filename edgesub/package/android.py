"""``--target android``: one .tflite that MediaPipe Tasks' ImageClassifier loads as it is.

The file is adapted to what ImageClassifier accepts (see :mod:`tflite_adapter`), carries TFLite
Model Metadata (name, version, input image and normalisation, output with labels.txt packed in),
and is checked after writing: the metadata is read back and the file is run against the source
artifact on the same inputs.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub import __version__
from edgesub._deps import require
from edgesub.converters import run_artifact
from edgesub.converters.outputs import DEFAULT_KIND
from edgesub.errors import ConfigError, ModelFileError, ParityError
from edgesub.labels import labels_text
from edgesub.package.readme import numbers, render
from edgesub.package.selection import select
from edgesub.package.source import (
    LABELS_FILE,
    RUN_ARTIFACTS,
    PackageSource,
    check_read_back,
    class_names,
)
from edgesub.package.targets import TARGETS, PackageRequest
from edgesub.rundir import RunDir

if TYPE_CHECKING:
    from edgesub.converters.manifest_record import ArtifactEntry, ModelInfo
    from edgesub.package.metadata import ClassifierMetadata

ASSETS = "assets"
# Probe inputs the packaged file is compared on against its source artifact.
PROBE_SAMPLES, PROBE_SEED = 16, 0
TOLERANCE = 1e-4  # max |Δprobability|: the added ops are exact up to float rounding


@TARGETS.register("android")
def build_android(source: PackageSource, request: PackageRequest, staging: Path) -> dict[str, Any]:
    """The .tflite with metadata under assets/, labels.txt and a README, checked after writing."""
    require("flatbuffers", "runtime")
    require("ai_edge_litert.schema_py_generated")
    pre = _image_preprocessing(source.model)
    entry, choice = _one_tflite(source, request)
    labels = class_names(source.model)
    mean, std = pixel_normalisation(pre)
    from edgesub.package.metadata import OUTPUT_DESCRIPTIONS, ClassifierMetadata
    from edgesub.package.tflite_file import classifier_file

    height, width = (int(d) for d in pre["size"])
    meta = ClassifierMetadata(
        name=source.model.name,
        description=_description(source.model, entry, pre),
        version=request.model_version or entry.sha256[:12],
        author=f"edgesub {__version__}",
        width=width,
        height=height,
        mean=mean,
        std=std,
        labels_file=LABELS_FILE,
        output_kind=source.model.output_kind or DEFAULT_KIND,
    )
    text = labels_text(labels)
    original = source.folder / entry.file
    model_file = staging / ASSETS / entry.file
    model_file.parent.mkdir()
    data, added = classifier_file(
        original.read_bytes(), pre["layout"], int(pre["channels"]), meta, text
    )
    model_file.write_bytes(data)
    (staging / LABELS_FILE).write_text(text, encoding="utf-8")
    check_read_back((staging / LABELS_FILE).read_text(encoding="utf-8"), labels, LABELS_FILE)
    parity = _check(original, model_file, pre, meta, labels, "SOFTMAX" in added)
    readme = render(
        "android.md",
        {
            "name": meta.name,
            "source": entry.file,
            "asset": entry.file,
            "classes": len(labels),
            "height": height,
            "width": width,
            "color": pre.get("color", "image"),
            "version": meta.version,
            "output": OUTPUT_DESCRIPTIONS[meta.output_kind].lower(),
            "mean": numbers(mean),
            "std": numbers(std),
            "adapted": _adapted(added),
            "samples": parity["samples"],
            "max_abs_diff": f"{parity['max_abs_diff']:.1e}",
            "agreement": f"{parity['top1_agreement']:.0f}",
            "choice": choice,
        },
    )
    (staging / "README.md").write_text(readme, encoding="utf-8")
    return {
        "artifact": entry.file,
        "model_file": f"{ASSETS}/{entry.file}",
        "metadata": {"name": meta.name, "version": meta.version, "mean": mean, "std": std},
        "operators_added": added,
        "parity": parity,
    }


# Why each operator the adapter may add is there, for the README.
_PURPOSE = {
    "CONV_2D": "RGB → grey with PIL's luma weights, as the training images were converted",
    "TRANSPOSE": "NHWC (MediaPipe) → NCHW (the exported model)",
    "QUANTIZE": "float → the model's int8 input scale",
    "DEQUANTIZE": "int8 scores → float",
    "SOFTMAX": "logits → probabilities, the scores MediaPipe reports",
}


def _adapted(added: list[str]) -> str:
    if not added:
        return "The source file already had the interface MediaPipe expects."
    steps = "; ".join(f"`{op}` ({_PURPOSE[op]})" for op in added)
    return f"Operators added inside the file so MediaPipe can feed and read it: {steps}."


def _one_tflite(source: PackageSource, request: PackageRequest) -> tuple[ArtifactEntry, str]:
    """The named artifact, else the .tflite recommended for ``--device`` (or on the converting
    host), else the first one; and the README sentence saying what the choice rests on."""
    if len(request.artifacts) > 1:
        raise ConfigError("an android bundle holds one model; give one --artifact")
    has_tflite = any(entry.format == "tflite" for entry in source.entries)
    selection = select(
        source,
        request.artifacts,
        formats=("tflite",),
        device=request.device if has_tflite else None,
        threads=request.threads,
        profiles_dir=request.profiles_dir,
    )
    tflite = [entry for entry in selection.entries if entry.format == "tflite"]
    if not tflite:
        others = ", ".join(entry.file for entry in selection.entries or source.entries)
        raise ConfigError(
            f"android runs .tflite models (MediaPipe Tasks) and {others} is not one; "
            f"{_tflite_hint(source.folder)}"
        )
    return tflite[0], selection.basis


def _tflite_hint(folder: Path) -> str:
    """The command that makes a .tflite: on a run's artifacts, convert the run again; an ONNX
    file cannot become one, so name the sources that can."""
    run = RunDir(folder.parent)
    if folder.name == RUN_ARTIFACTS and run.config.is_file():
        return f"make one with `edgesub convert {shlex.quote(str(run.root))} --format tflite`"
    return (
        "make one with `edgesub convert MODEL_FILE --format tflite` from PyTorch weights or a "
        "Keras model (an ONNX file converts to ONNX only)"
    )


def _image_preprocessing(model: ModelInfo) -> dict[str, Any]:
    pre = model.preprocessing
    needed = ("layout", "channels", "size", "value_range", "scale", "mean", "std")
    if pre.get("input") != "image" or any(key not in pre for key in needed):
        kind = pre.get("input") or "unknown"
        raise ConfigError(
            f"the android target packages image classifiers (1- or 3-channel images, for "
            f"MediaPipe's ImageClassifier); {model.name} takes {kind} input: package it "
            "with --target raspberry-pi"
        )
    return pre


def pixel_normalisation(pre: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The manifest's preprocessing as MediaPipe's ``(pixel - mean) / std`` on 0..255 values.

    edgesub maps 8-bit pixels p onto the raw range [low, high], then computes
    ``(raw * scale - mean) / std``; that is ``(p - M) / S`` with ``k = (high - low) * scale / 255``,
    ``M = (mean - low * scale) / k`` and ``S = std / k``.
    """
    low, high = (float(v) for v in pre["value_range"])
    k = (high - low) * float(pre["scale"]) / 255.0
    mean = [(float(m) - low * float(pre["scale"])) / k for m in pre["mean"]]
    std = [float(s) / k for s in pre["std"]]
    return mean, std


def _description(model: ModelInfo, entry: ArtifactEntry, pre: dict[str, Any]) -> str:
    height, width = pre["size"]
    accuracy = entry.accuracy
    measured = f", test accuracy {accuracy:.2f} %" if isinstance(accuracy, float) else ""
    return (
        f"{model.name}: {len(class_names(model))}-class image classifier "
        f"({height}×{width} {pre.get('color', 'image')}), packaged by edgesub from "
        f"{entry.file}{measured}"
    )


def _check(
    original: Path,
    packaged: Path,
    pre: dict[str, Any],
    meta: ClassifierMetadata,
    labels: list[str],
    softmax_added: bool,
) -> dict[str, Any]:
    """Read the metadata back (label names included) and run both files on the same inputs."""
    from edgesub.package.metadata_reader import read_metadata

    read = read_metadata(packaged)
    normalization = read["subgraphs"][0]["inputs"][0]["normalization"] or {}
    written = np.float32([meta.mean, meta.std]).tolist()
    if [normalization.get("mean"), normalization.get("std")] != written:
        raise ModelFileError(f"{packaged.name}: metadata did not read back as written")
    packed = read["files"].get(meta.labels_file, b"").decode("utf-8")
    check_read_back(packed, labels, f"{packaged.name}'s packed {meta.labels_file}")
    channels, (height, width) = int(pre["channels"]), pre["size"]
    rng = np.random.default_rng(PROBE_SEED)
    x = rng.standard_normal((PROBE_SAMPLES, height, width, channels)).astype(np.float32)
    source_x = x.transpose(0, 3, 1, 2) if pre["layout"] == "NCHW" else x
    expected = run_artifact(original, source_x)
    if softmax_added:
        shifted = np.exp(expected - expected.max(axis=1, keepdims=True))
        expected = shifted / shifted.sum(axis=1, keepdims=True)
    got = run_artifact(packaged, np.repeat(x, 3 // channels, axis=3))
    diff = float(np.abs(got - expected).max())
    agreement = float((got.argmax(axis=1) == expected.argmax(axis=1)).mean() * 100)
    if diff > TOLERANCE or agreement < 100.0:
        raise ParityError(
            f"{packaged.name} differs from {original.name} after adding the image interface "
            f"(max |Δprobability| {diff:.2e}, top-1 agreement {agreement:.1f} %)"
        )
    return {"max_abs_diff": diff, "top1_agreement": agreement, "samples": PROBE_SAMPLES}
