"""ONNX backend: torch export (fp32), ONNX Runtime quantisation (static QDQ int8, dynamic int8),
fp16 weights, and a torch-free runner.

Export uses the TorchScript exporter (``dynamo=False``): on torch 2.13 it writes one
self-contained file at exactly the requested opset in ~0.1 s, while the dynamo exporter takes
seconds, cannot go below opset 18 and splits weights into a ``.onnx.data`` side file.
"""

from __future__ import annotations

import functools
import platform
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.converters.feeds import feed_batches
from edgesub.converters.formats import ArtifactFormat, ExportJob, add_format
from edgesub.converters.tensors import io_entry
from edgesub.errors import ConversionError, ModelFileError, first_line
from edgesub.onnx_files import ORT_DTYPES, check_external_data, cpu_session
from edgesub.onnx_trace import trace_to_onnx

if TYPE_CHECKING:
    import torch

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
CALIBRATION_BATCH = 64


def export_fp32(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """Trace ``model`` to one self-contained ONNX file; the batch axis is dynamic unless
    ``convert.dynamic_batch`` is off (then fixed at 1, as some accelerators' compilers want)."""
    torch = require("torch")
    # several inputs by name (the forward's positional order), else the one INPUT_NAME
    named = job.sample if isinstance(job.sample, Mapping) else {INPUT_NAME: job.sample}
    names = [*named, OUTPUT_NAME]
    axes = {name: {0: "batch"} for name in names} if job.cfg.dynamic_batch else None
    trace_to_onnx(
        model,
        tuple(torch.from_numpy(a) for a in named.values()),
        path,
        opset=job.cfg.opset,
        input_names=list(named),
        output_names=[OUTPUT_NAME],
        dynamic_axes=axes,
    )


def export_int8(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """Static per-channel QDQ int8, calibrated on training inputs (float32 I/O is kept)."""
    _export_then(model, job, path, "int8")


def export_int8_dynamic(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """Dynamic int8: QUInt8 weights, activations quantised at run time; no calibration needed."""
    _export_then(model, job, path, "int8_dynamic")


def export_fp16(model: torch.nn.Module, job: ExportJob, path: Path) -> None:
    """fp16 weights and compute with float32 I/O, so callers feed the same arrays."""
    _export_then(model, job, path, "fp16")


def _export_then(model: torch.nn.Module, job: ExportJob, path: Path, precision: str) -> None:
    with tempfile.TemporaryDirectory(prefix="edgesub-onnx-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_fp32(model, job, fp32)
        quantize_onnx(
            fp32,
            path,
            precision,
            calibration=job.calibration,
            activations=job.cfg.onnx_int8_activations,
        )


def quantize_onnx(
    src: Path,
    dst: Path,
    precision: str,
    *,
    calibration: np.ndarray | Mapping[str, np.ndarray] | None = None,
    fixed_batch: bool = False,
    activations: str = "int8",
) -> None:
    """Quantise any fp32 ONNX file (ours or third-party) to ``precision``.

    ORT's pre-processing (symbolic shape inference + graph optimisation) runs first, as its
    documentation requires for good quantisation; it also folds constant-generated weights into
    initializers so that they get quantised. ``fixed_batch`` fixes a dynamic batch axis at 1;
    ``activations`` is the static int8 activation type (``int8`` or ``uint8``).
    """
    require("onnxruntime")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if precision not in _QUANTIZERS:
        known = ", ".join(_QUANTIZERS)
        raise ConversionError(f"cannot quantise ONNX to '{precision}'; supported: {known}")
    check_external_data(src)
    with tempfile.TemporaryDirectory(prefix="edgesub-onnxq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        src = _at_least_opset(src, Path(tmp) / "upgraded.onnx", QUANT_MIN_OPSET)
        if fixed_batch:
            fix_batch(src, Path(tmp) / "batch1.onnx")
            src = Path(tmp) / "batch1.onnx"
        _pre_process(quant_pre_process, src, pre)
        out = Path(tmp) / "quantized.onnx"
        _QUANTIZERS[precision](pre, out, _Quantise(calibration, activations))
        _drop_unused_inputs(out, dst)


# Per-channel QuantizeLinear/DequantizeLinear (their ``axis``) exist from opset 13 on.
QUANT_MIN_OPSET = 13


def _at_least_opset(src: Path, upgraded: Path, opset: int) -> Path:
    """``src``, or a copy converted to ``opset`` when the model is older (e.g. opset 10 files)."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(src))
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current >= opset:
        return src
    try:
        onnx.save(version_converter.convert_version(model, opset), str(upgraded))
    except Exception as exc:  # the converter raises plain exceptions naming the op
        raise ConversionError(
            f"{src.name} uses opset {current}; upgrading it to {opset} for quantisation "
            f"failed: {first_line(exc)}"
        ) from exc
    return upgraded


def _pre_process(quant_pre_process: Any, src: Path, pre: Path) -> None:
    """ORT's pre-processing; without its symbolic shape inference when that cannot cope.

    The symbolic pass asserts on some real models (rapidocr's classifier, with dynamic width);
    ONNX's own shape inference and the graph optimisation still run without it.
    """
    try:
        quant_pre_process(str(src), str(pre))
        return
    except AssertionError:
        pass
    except Exception as exc:  # ORT raises plain Exceptions from its optimiser and inference
        raise ConversionError(f"ONNX pre-processing failed: {first_line(exc)}") from exc
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    except Exception as exc:
        raise ConversionError(f"ONNX pre-processing failed: {first_line(exc)}") from exc


@dataclass(frozen=True)
class _Quantise:
    """What a quantiser may need besides the files."""

    calibration: np.ndarray | Mapping[str, np.ndarray] | None
    activations: str  # static int8 activation type: "int8" (S8S8) or "uint8" (U8S8)


def _quantize_static(src: Path, dst: Path, q: _Quantise) -> None:
    """Per-channel symmetric int8 weights, asymmetric int8 (or uint8) activations, QDQ format.

    S8S8 is ORT's default and what mobile execution providers expect; U8S8 is the x86 fast path
    (VPMADDUBSW / VNNI take unsigned × signed bytes): on an AVX512-VNNI host it ran
    MobileNetV2-224 at 0.53× fp32's latency against 0.79× for S8S8
    (benchmarks/onnx_int8_activations.py).
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if q.calibration is None or len(q.calibration) == 0:
        raise ConversionError("static int8 quantisation needs calibration data")
    quantize_static(
        str(src),
        str(dst),
        _calibration_reader(src, q.calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8 if q.activations == "uint8" else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        reduce_range=int8_saturates_here(),
    )


# x86 flags of int8 dot products that accumulate in 32 bits (no saturating int16 pair sums).
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


@functools.cache
def int8_saturates_here() -> bool:
    """Whether ORT's int8 kernels on this host add u8×s8 pairs in saturating int16 (x86 without
    VNNI), so the weights are quantised to 7 bits (``reduce_range``) for the file to verify here.

    Measured on such a host: full-range weights lost 2.5 points of the default student's
    accuracy (max |Δ| 7.4). Elsewhere (VNNI, Arm) 7 bits cost EfficientNet-Lite0 (real weights)
    31.5 points: it agreed with fp32 on 55.5% of 200 images with 7-bit weights, 87.0% with
    8-bit. Random-weight ResNet-50 went the other way on this VNNI host: 87.5% of 32 seeded
    inputs with 8 bits, 100% with 7 (benchmarks/results/artifacts_references_8bit.json), with
    uint8 activations too, so not yet explained.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = set(Path("/proc/cpuinfo").read_text(encoding="utf-8").split())
    except OSError:
        return True  # an x86 host whose flags cannot be read: the choice that verifies anywhere
    return not flags & _VNNI_FLAGS


def weight_bits(precision: str) -> int | None:
    """7 for int8 files quantised where :func:`int8_saturates_here` (in a dynamic file, its
    matrix products' weights; its convolutions keep 8-bit uint8 ones), else 8; None for floats."""
    if not precision.startswith("int8"):
        return None
    return 7 if int8_saturates_here() else 8


def _quantize_dynamic(src: Path, dst: Path, q: _Quantise) -> None:
    """Matrix products get per-channel int8 weights (7-bit where :func:`int8_saturates_here`);
    convolutions keep per-tensor uint8 weights.

    For MatMul, per-tensor int8 weights hurt a BERT-like model badly (MiniLM-L6 at 128 tokens:
    embedding cosine 0.958 with fp32), and uint8 weights, which did not (0.981), ran no faster
    than fp32 in ORT on x86 (they miss the u8×s8 kernels); per-channel int8 has both: cosine
    0.992 at 0.61–0.64× fp32's latency (benchmarks/artifacts.py --only user-models).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    products = [op for op in IntegerOpsRegistry if op != "Conv"]
    with tempfile.TemporaryDirectory(prefix="edgesub-onnxq-") as tmp:
        half = Path(tmp) / "products.onnx"
        quantize_dynamic(
            str(src),
            str(half),
            op_types_to_quantize=products,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=int8_saturates_here(),
        )
        quantize_dynamic(
            str(half), str(dst), op_types_to_quantize=["Conv"], weight_type=QuantType.QUInt8
        )


def _convert_fp16(src: Path, dst: Path, q: _Quantise) -> None:
    onnx = require("onnx")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))


def _keep_fp32(src: Path, dst: Path, q: _Quantise) -> None:
    """The pre-processed float graph itself: the baseline a quantised third-party file is
    compared with (size, latency) and a cleaned-up file in its own right."""
    dst.write_bytes(src.read_bytes())


_QUANTIZERS = {
    "fp32": _keep_fp32,
    "int8": _quantize_static,
    "int8_dynamic": _quantize_dynamic,
    "fp16": _convert_fp16,
}


def _calibration_reader(model_path: Path, calibration: np.ndarray | Mapping[str, Any]) -> Any:
    """An ORT CalibrationDataReader over ``calibration`` (one array, or input name → array) in
    fixed-size batches."""
    from onnxruntime.quantization import CalibrationDataReader

    name, fixed_batch = _input_name_and_batch(model_path)
    feeds = dict(calibration) if isinstance(calibration, Mapping) else {name: calibration}

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._chunks = feed_batches(feeds, fixed_batch or CALIBRATION_BATCH)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._chunks, None)

    return _Reader()


def _input_name_and_batch(path: Path) -> tuple[str, int | None]:
    onnx = require("onnx")
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    first = next(i for i in graph.input if i.name not in initializers)
    dim = first.type.tensor_type.shape.dim[0]
    return first.name, (dim.dim_value or None)


def fix_batch(src: Path, dst: Path) -> None:
    """Write ``src`` with a dynamic leading (batch) axis of its inputs and outputs fixed at 1.

    Intermediate shapes are dropped so ORT's pre-processing infers them again from batch 1.
    """
    onnx = require("onnx")
    model = onnx.load(str(src))
    initializers = {t.name for t in model.graph.initializer}
    values = [v for v in model.graph.input if v.name not in initializers]
    for value in [*values, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = 1
    del model.graph.value_info[:]
    onnx.save(model, str(dst))


def _drop_unused_inputs(src: Path, dst: Path) -> None:
    """Remove graph inputs no node reads and write ``dst`` as one file.

    Old-IR models list weights as graph inputs; once ORT folds or quantises those weights the
    inputs dangle and ORT then demands them at run time.
    """
    onnx = require("onnx")
    model = onnx.load(str(src))
    used = {name for node in model.graph.node for name in node.input}
    used |= {o.name for o in model.graph.output}
    keep = [i for i in model.graph.input if i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    onnx.save(model, str(dst))


def _session(path: Path, threads: int) -> Any:
    try:
        return cpu_session(str(path), threads)
    except Exception as exc:  # ORT raises pybind-defined errors (InvalidProtobuf, Fail, ...)
        check_external_data(path)  # a missing weights side file, named plainly
        raise ModelFileError(f"{path}: cannot load ONNX model: {first_line(exc)}") from exc


def run(path: Path, x: np.ndarray | Mapping[str, np.ndarray], threads: int = 1) -> np.ndarray:
    """Run an ONNX model and return its first output as float32.

    ``x`` is one array for a single-input model, or input name → array (every input by name;
    names the file does not read, such as an input quantisation removed, are not fed).
    """
    session = _session(path, threads)
    inputs = session.get_inputs()
    if not isinstance(x, Mapping):
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ModelFileError(
                f"{path}: expected one input, the model has {len(inputs)} ({names}); "
                "give a .npz with one array per input name"
            )
        x = {inputs[0].name: x}
    missing = [i.name for i in inputs if i.name not in x]
    if missing:
        raise ModelFileError(f"{path}: no data for input(s) {', '.join(missing)}")
    spec = inputs[0]
    batch = spec.shape[0] if spec.shape and isinstance(spec.shape[0], int) else None
    feeds = {
        i.name: np.asarray(x[i.name]).astype(ORT_DTYPES.get(i.type, "float32"), copy=False)
        for i in inputs
    }
    outputs = [session.run(None, chunk)[0] for chunk in feed_batches(feeds, batch)]
    return np.concatenate(outputs)[: len(feeds[spec.name])].astype(np.float32)


def describe(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Names, shapes (-1 = dynamic), dtypes of the file's inputs and outputs.

    ONNX keeps quantisation inside the graph (QDQ nodes), so I/O quantisation is always null.
    """
    session = _session(path, 1)

    def entry(arg: Any) -> dict[str, Any]:
        shape = [d if isinstance(d, int) else -1 for d in (arg.shape or [])]
        return io_entry(arg.name, shape, ORT_DTYPES.get(arg.type, "float32"), None)

    return {
        "inputs": [entry(i) for i in session.get_inputs()],
        "outputs": [entry(o) for o in session.get_outputs()],
    }


add_format(
    ArtifactFormat(
        name="onnx",
        extension=".onnx",
        input_layout="NCHW",
        exporters={
            "fp32": export_fp32,
            "int8": export_int8,
            "int8_dynamic": export_int8_dynamic,
            "fp16": export_fp16,
        },
        run=run,
        describe=describe,
        tools=("torch", "onnx", "onnxruntime"),
        weight_bits=weight_bits,
    ),
)
