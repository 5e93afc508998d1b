"""TFLite backend: litert-torch conversion (fp32), PT2E static int8 with int8 I/O, ai-edge-quantizer
fp16 / dynamic int8, and a torch-free runner on the LiteRT interpreter.

litert-torch keeps the torch input layout: the file takes N×C×H×W exactly like the torch model
(no NHWC transpose is inserted at the boundary), with a fixed batch of 1 — the usual deployable
shape on a device, and the one int8 calibration and XNNPACK handle without resizing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.converters.feeds import feed_batches
from edgesub.converters.formats import ArtifactFormat, ExportJob, add_format
from edgesub.converters.tensors import batches, dequantize, io_entry, quantize
from edgesub.converters.tflite_io import with_float_io
from edgesub.errors import ConversionError, ModelFileError, first_line
from edgesub.native_logs import native_noise_filtered
from edgesub.profile.runtimes import import_tflite

if TYPE_CHECKING:
    import torch

CALIBRATION_BATCH = 64

# ai-edge-quantizer recipes for the precisions it provides (weights only; activations stay float).
_FP16_RECIPE = [
    {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "float_casting",
        "op_config": {
            "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
        },
    }
]


# Python loggers that report harmless noise from litert-torch and its dependencies (torchao's
# optional CUDA kernels, torch's pytree enum registration; the root logger: litert-torch's
# notice that int64 token-id inputs become int32, which the manifest records).
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "")


@contextlib.contextmanager
def _quiet_litert() -> Iterator[Any]:
    """Import and run litert-torch without its progress tree and import-time warnings.

    Our own progress bar suffices. The progress switch is an environment variable, restored
    afterwards; the converter's C++ INFO logs obey TF_CPP_MIN_LOG_LEVEL, set only if unset.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    key = "LITERT_TORCH_SHOW_PROGRESS"
    previous = os.environ.get(key)
    try:
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        litert_torch = require("litert_torch")
        litert_torch.config.show_progress = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield litert_torch
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


def warm_up() -> None:
    """Import litert-torch (seconds) quietly, before the first export needs it."""
    require("torch")
    with _quiet_litert():
        pass


def export_fp32(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    torch = require("torch")
    with _quiet_litert() as litert_torch:
        if isinstance(job.sample, Mapping):  # several inputs, by name: the signature's names
            named = {name: torch.from_numpy(a) for name, a in job.sample.items()}
            edge_model = _convert(litert_torch, model, (), sample_kwargs=named)
        else:
            edge_model = _convert(litert_torch, model, (torch.from_numpy(job.sample),))
        edge_model.export(str(path))


def export_int8(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """Full-integer int8 via PT2E: per-channel weights, calibrated activations; int8 I/O, or
    float32 I/O with ``convert.float_io`` (a QUANTIZE/DEQUANTIZE pair at the boundary)."""
    torch = require("torch")
    with _quiet_litert() as litert_torch:
        from litert_torch.quantize import pt2e_quantizer, quant_config
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
        )
        graph, batch = _export_for_calibration(torch, model, job)
        prepared = prepare_pt2e(graph, quantizer)
        with torch.no_grad():
            for chunk in batches(job.calibration, batch):
                prepared(torch.from_numpy(chunk))
        quantized = convert_pt2e(prepared, fold_quantize=False)
        # An exported graph has no real train/eval switch: swap its ops to eval, and clear the
        # flag litert-torch checks (otherwise it warns the model is "in training mode").
        move_exported_model_to_eval(quantized)
        quantized.training = False
        sample = (torch.from_numpy(job.sample),)
        config = quant_config.QuantConfig(pt2e_quantizer=quantizer)
        edge_model = _convert(litert_torch, quantized, sample, quant_config=config)
        edge_model.export(str(path))
    if job.cfg.float_io:
        path.write_bytes(with_float_io(path.read_bytes()))


def _export_for_calibration(torch: Any, model: torch.nn.Module, job: ExportJob) -> tuple[Any, int]:
    """torch.export with a dynamic batch so calibration runs in batches, not one sample a call.

    Falls back to batch 1 when the model pins its batch size (e.g. a reshape to a constant; a
    torch.export program of batch 1, whose guard asserts it).
    """
    pair = torch.from_numpy(np.concatenate([job.sample, job.sample]))
    dims = ({0: torch.export.Dim("batch", min=1, max=1 << 16)},)
    try:
        return torch.export.export(model, (pair,), dynamic_shapes=dims).module(), CALIBRATION_BATCH
    except (torch._dynamo.exc.UserError, AssertionError):
        return torch.export.export(model, (torch.from_numpy(job.sample),)).module(), 1


def _convert(litert_torch: Any, model: Any, sample: tuple[Any, ...], **kwargs: Any) -> Any:
    try:
        return litert_torch.convert(model, sample, **kwargs)
    except Exception as exc:  # litert-torch surfaces lowering failures as many exception types
        raise ConversionError(
            f"TFLite conversion failed: {first_line(exc)}; try the 'onnx' format"
        ) from exc


def export_int8_dynamic(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """Dynamic-range int8 (int8 channelwise weights, activations quantised at run time)."""
    from ai_edge_quantizer import recipe

    _export_then_quantize(model, job, path, recipe.dynamic_wi8_afp32())


def export_fp16(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """fp16 weights, dequantised to float32 at load time; halves the file, keeps float I/O."""
    _export_then_quantize(model, job, path, _FP16_RECIPE)


def _export_then_quantize(model: torch.nn.Module, job: ExportJob, path: Path, recipe: Any) -> None:
    require("ai_edge_quantizer")
    from ai_edge_quantizer import quantizer

    with tempfile.TemporaryDirectory(prefix="edgesub-tflite-") as tmp:
        fp32 = Path(tmp) / "fp32.tflite"
        export_fp32(model, job, fp32)
        qt = quantizer.Quantizer(str(fp32), recipe)
        result = qt.quantize(enable_progress_bar=False, enable_progress_report=False)
        path.write_bytes(bytes(result.quantized_model))


def _interpreter(path: Path, threads: int) -> Any:
    """The first interpreter that imports (ai-edge-litert, tflite-runtime, tensorflow)."""
    interpreter_cls, _ = import_tflite()
    try:
        return interpreter_cls(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: cannot load TFLite model: {first_line(exc)}") from exc


def run(path: Path, x: np.ndarray | Mapping[str, np.ndarray], threads: int = 1) -> np.ndarray:
    """Run a .tflite on ``x`` and return its first output as float32: one array for a
    single-input file, or input name → array (the names of its signature, :func:`tflite_input_
    names`); int8 I/O uses the file's own quant params, a fixed batch runs sample by sample."""
    from edgesub.profile.runtimes import tflite_input_names

    interpreter = _interpreter(path, threads)
    details = interpreter.get_input_details()
    names = tflite_input_names(interpreter)
    feeds = _named_feeds(path, x, names)
    dynamic = int(details[0]["shape_signature"][0]) == -1
    n = len(feeds[names[0]])
    if dynamic:
        for spec, name in zip(details, names, strict=True):
            interpreter.resize_tensor_input(spec["index"], [n, *feeds[name].shape[1:]])
    with native_noise_filtered():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter.allocate_tensors()
    out_spec = interpreter.get_output_details()[0]
    outputs = []
    for chunk in feed_batches(feeds, None if dynamic else int(details[0]["shape"][0])):
        for spec, name in zip(details, names, strict=True):
            interpreter.set_tensor(spec["index"], _to_input(chunk[name], spec))
        interpreter.invoke()
        outputs.append(_from_output(interpreter.get_tensor(out_spec["index"]), out_spec))
    return np.concatenate(outputs)[:n]


def _named_feeds(
    path: Path, x: np.ndarray | Mapping[str, np.ndarray], names: list[str]
) -> dict[str, np.ndarray]:
    """``x`` by input name: a lone array only for a single-input file; every input given."""
    if not isinstance(x, Mapping):
        if len(names) != 1:
            raise ModelFileError(
                f"{path}: expected one input, the model has {len(names)} ({', '.join(names)}); "
                "give a .npz with one array per input name"
            )
        return {names[0]: np.asarray(x)}
    missing = [name for name in names if name not in x]
    if missing:
        raise ModelFileError(f"{path}: no data for input(s) {', '.join(missing)}")
    return {name: np.asarray(x[name]) for name in names}


def _to_input(x: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    scale, zero_point = spec["quantization"]
    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iu" and scale:
        return quantize(x, dtype, scale, zero_point)
    return x.astype(dtype, copy=False)


def _from_output(y: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    scale, zero_point = spec["quantization"]
    if y.dtype.kind in "iu" and scale:
        return dequantize(y, scale, zero_point)
    return y.astype(np.float32)


def describe(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Names (inputs: as its signature calls them), shapes (-1 = dynamic), dtypes and per-tensor
    quantisation of the file's I/O."""
    from edgesub.profile.runtimes import tflite_input_names

    interpreter = _interpreter(path, 1)

    def entry(spec: dict[str, Any], name: str) -> dict[str, Any]:
        scale, zero_point = spec["quantization"]
        quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
        return io_entry(name, list(spec["shape_signature"]), spec["dtype"], quant)

    inputs = zip(interpreter.get_input_details(), tflite_input_names(interpreter), strict=True)
    return {
        "inputs": [entry(s, name) for s, name in inputs],
        "outputs": [entry(s, s["name"]) for s in interpreter.get_output_details()],
    }


add_format(
    ArtifactFormat(
        name="tflite",
        extension=".tflite",
        input_layout="NCHW",
        exporters={
            "fp32": export_fp32,
            "int8": export_int8,
            "int8_dynamic": export_int8_dynamic,
            "fp16": export_fp16,
        },
        run=run,
        describe=describe,
        tools=("torch", "torchao", "litert-torch", "ai-edge-litert", "ai-edge-quantizer"),
        isolated=True,
        warm_up=warm_up,
    ),
)
