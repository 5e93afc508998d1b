"""Keras / SavedModel sources (the ``tensorflow`` extra): TFLite through TensorFlow's converter.

Users with a TensorFlow model should not have to port it to PyTorch to get a verified TFLite
file: TFLiteConverter writes it (fp32, fp16 weights, dynamic-range int8, full int8 calibrated on
their data) and each file is verified against the TensorFlow model like any other artifact.
The file keeps the model's own layout (NHWC for Keras image models).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.converters.artifact_set import finish, prepare_output, publish_artifact
from edgesub.converters.calibration import read_labels
from edgesub.converters.export_worker import in_process
from edgesub.converters.formats import artifact_format
from edgesub.converters.manifest import source_model_section
from edgesub.converters.outputs import output_kind
from edgesub.converters.sources import (
    SAVED_MODEL_FILE,
    SAVED_MODEL_KEY,
    SOURCES,
    SourceRequest,
    input_data,
    single_format_cfg,
)
from edgesub.converters.staging import staged_output
from edgesub.converters.verify import REFERENCE_BATCH, Reference
from edgesub.digest import file_sha256
from edgesub.errors import ConversionError, DataError, ModelFileError, first_line

if TYPE_CHECKING:
    from edgesub.config import ConvertConfig

CALIBRATION_BATCH = 1  # TFLite files keep the model's batch dim; one sample per step is safe


@SOURCES.register(SAVED_MODEL_KEY)
@SOURCES.register(".h5")
@SOURCES.register(".keras")
def convert_keras(src: Path, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """Convert a .keras/.h5 file or a SavedModel directory to verified TFLite files."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO logs
    tf = require("tensorflow", "tensorflow")
    cfg = _keras_cfg(request)
    with tempfile.TemporaryDirectory(prefix="edgesub-keras-") as tmp:
        saved, forward, kind = _load(tf, Path(src), Path(tmp))
        dims, num_classes = _signature(tf, saved)
        calibration, verify, verified_on = input_data(request.calibration, dims, cfg.precisions)
        labels = read_labels(request.labels)
        if labels and num_classes and len(labels) != num_classes:
            raise DataError(f"{len(labels)} labels given, the model outputs {num_classes} classes")
        name = request.name or Path(src).stem
        out = prepare_output(out, name)
        logits = _predict(forward, verify)
        kind_of = output_kind(cfg.outputs, logits)
        synthetic = request.calibration is None
        reference = Reference(verify, None, logits, kind_of, synthetic=synthetic)
        fmt = dataclasses.replace(
            artifact_format("tflite"), input_layout=_layout(dims), tools=("tensorflow",)
        )
        model = source_model_section(
            name,
            num_classes,
            labels,
            dims,
            {"layout": _layout(dims)} if len(dims) == 3 else {},
            {"kind": kind, "file": Path(src).name, "sha256": _source_digest(Path(src))},
            verified_on,
            reference.kind,
        )
        with staged_output(out) as stage:
            entries = []
            for precision in cfg.precisions:
                # TensorFlow's converter is native for seconds: Ctrl-C waits for it (see
                # export_worker.in_process)
                make = functools.partial(
                    in_process(_convert_into), tf, saved, precision, calibration, cfg.float_io
                )
                target = stage / f"{name}_{precision}{fmt.extension}"
                entries.append(publish_artifact(fmt, precision, make, reference, target, cfg))
            manifest = finish(stage, model, entries, measure_latency=request.measure_latency)
    return [entry.to_dict() for entry in manifest.artifacts]


def _keras_cfg(request: SourceRequest) -> ConvertConfig:
    return single_format_cfg(
        request,
        "tflite",
        _OPTIMISERS,
        "a Keras/SavedModel source converts to TFLite only (TensorFlow → ONNX would need "
        "tf2onnx, which edgesub does not use)",
    )


def _load(tf: Any, src: Path, tmp: Path) -> tuple[Path, Callable[[Any], Any], str]:
    """(a SavedModel directory to convert, the source's forward function, source kind).

    A Keras file is exported to a SavedModel first: TFLiteConverter's SavedModel path is the
    one that works for Keras 3 models.
    """
    if src.is_dir():
        try:
            loaded = tf.saved_model.load(str(src))
        except Exception as exc:  # TF raises many error types for a broken SavedModel
            raise ModelFileError(f"cannot load SavedModel {src}: {first_line(exc)}") from None
        signature = loaded.signatures.get("serving_default")
        if signature is None:
            raise ModelFileError(f"SavedModel {src} has no 'serving_default' signature")
        return src, functools.partial(_call_signature, signature), "saved_model"
    if not src.is_file():
        raise ModelFileError(f"model file not found: {src}")
    keras = require("keras", "tensorflow")
    try:
        model = keras.models.load_model(str(src), compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors...
        raise ModelFileError(f"cannot load Keras model {src}: {first_line(exc)}") from None
    saved = tmp / "saved_model"
    try:
        model.export(str(saved), verbose=False)
    except Exception as exc:
        raise ConversionError(f"cannot export {src.name} for TFLite: {first_line(exc)}") from exc
    return saved, lambda x: model(x, training=False), "keras"


def _call_signature(signature: Any, x: Any) -> Any:
    """Signatures take keyword arguments only: feed ``x`` as the single input."""
    (name,) = signature.structured_input_signature[1]
    outputs = list(signature(**{name: x}).values())
    if len(outputs) != 1:
        raise ModelFileError("the SavedModel's serving signature must have exactly one output")
    return outputs[0]


def _signature(tf: Any, saved: Path) -> tuple[tuple[int | None, ...], int | None]:
    """Non-batch input dims (None = dynamic) and the class count of a single-input model."""
    signature = tf.saved_model.load(str(saved)).signatures["serving_default"]
    _, kwargs = signature.structured_input_signature
    specs = list(kwargs.values())
    if len(specs) != 1:
        raise ModelFileError(f"the model has {len(specs)} inputs; edgesub converts single-input")
    (spec,) = specs
    if spec.dtype != tf.float32:
        raise ModelFileError(f"the model's input is {spec.dtype.name}; edgesub needs float32")
    outputs = list(signature.structured_outputs.values())
    last = outputs[0].shape[-1] if len(outputs) == 1 and outputs[0].shape.rank == 2 else None
    return tuple(spec.shape[1:]), last


def _layout(dims: tuple[int | None, ...]) -> str:
    """Keras image models are channels-last; other inputs have no image layout."""
    return "NHWC" if len(dims) == 3 else "none"


def _predict(forward: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    parts = [
        np.asarray(forward(x[i : i + REFERENCE_BATCH]), dtype=np.float32)
        for i in range(0, len(x), REFERENCE_BATCH)
    ]
    return np.concatenate(parts).reshape(len(x), -1)


def _convert_into(
    tf: Any,
    saved: Path,
    precision: str,
    calibration: np.ndarray | None,
    float_io: bool,
    dst: Path,
) -> None:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    _OPTIMISERS[precision](tf, converter, calibration, float_io)
    try:
        data = converter.convert()
    except Exception as exc:  # the MLIR converter raises ConverterError and others
        raise ConversionError(
            f"TFLiteConverter failed at {precision}: {first_line(exc)}; try fp32 or "
            "int8_dynamic, or select TF ops"
        ) from exc
    dst.write_bytes(data)


def _fp32(tf: Any, converter: Any, calibration: np.ndarray | None, float_io: bool) -> None:
    """The converter's defaults: float weights and compute."""


def _fp16(tf: Any, converter: Any, calibration: np.ndarray | None, float_io: bool) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _int8_dynamic(tf: Any, converter: Any, calibration: np.ndarray | None, float_io: bool) -> None:
    """Dynamic-range: int8 weights, activations quantised at run time; no data needed."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _int8(tf: Any, converter: Any, calibration: np.ndarray | None, float_io: bool) -> None:
    """Full-integer int8 calibrated on the user's inputs; int8 I/O unless ``float_io``."""
    if calibration is None or len(calibration) == 0:
        raise ConversionError("full int8 needs calibration data: pass --calibration DATA.npy")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = functools.partial(_representative, calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


def _representative(calibration: np.ndarray) -> Iterator[list[np.ndarray]]:
    for i in range(0, len(calibration), CALIBRATION_BATCH):
        yield [calibration[i : i + CALIBRATION_BATCH]]


_OPTIMISERS = {"fp32": _fp32, "fp16": _fp16, "int8_dynamic": _int8_dynamic, "int8": _int8}


def _source_digest(src: Path) -> str:
    """sha256 of the model file, or of a SavedModel's graph file."""
    return file_sha256(src / SAVED_MODEL_FILE if src.is_dir() else src)
