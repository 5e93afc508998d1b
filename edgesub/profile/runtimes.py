"""Inference runtimes that execute .onnx and .tflite artifacts on this machine, one per format.

Used inside the measurement child process (``edgesub.profile._child``), so it must work on a
runtime-only install: numpy plus onnxruntime and/or a TFLite interpreter, no torch, no onnx.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import tempfile
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.backends import BACKENDS, backend_for
from edgesub.errors import EdgesubError, MissingDependencyError, ModelFileError, first_line
from edgesub.native_logs import native_noise_filtered
from edgesub.onnx_files import ORT_DTYPES
from edgesub.profile.graph import ShapeOverride, batch_of_one, shape_fits, split_override

if TYPE_CHECKING:
    import numpy as np


class InputShapeError(EdgesubError):
    """A model input has unknown dimensions and no usable --input-shape was given."""


@dataclass(frozen=True)
class InputSpec:
    """What a model expects on one input; ``None`` in ``shape`` is an unknown (dynamic) dim."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    quantization: tuple[float, int] | None = None


class Session(ABC):
    """A loaded model ready to run with fixed inputs."""

    inputs: list[InputSpec]
    threads: int  # as configured, read back from the runtime where it allows

    @abstractmethod
    def prepare(self, feeds: dict[str, np.ndarray]) -> None:
        """Bind inputs once (resizing dynamic tensors) so timed runs only execute."""

    @abstractmethod
    def run(self) -> None:
        """One inference, including input binding and output copy as an application would."""


class Runtime(ABC):
    """A runtime for one artifact format: import the backend, then load models with it."""

    name: str

    @abstractmethod
    def import_backend(self) -> tuple[str, str]:
        """Import the backend (and nothing model-specific); return its name and version."""

    @abstractmethod
    def load(self, path: Path, threads: int, *, op_profile: bool = False) -> Session:
        """Load ``path``; a corrupt or unsupported file raises ModelFileError."""

    def op_profile(self, session: Session, skip_runs: int = 0) -> dict[str, float]:
        """Per-op-type milliseconds per inference of a session loaded with op_profile=True."""
        raise EdgesubError(f"per-op profiling is not available for {self.name} artifacts")


def runtime_for(path: Path) -> Runtime:
    """The runtime for an artifact, chosen by its file extension (.onnx, .tflite)."""
    return backend_for(path).runtime()


# --- ONNX Runtime -------------------------------------------------------------------------------


class OrtSession(Session):
    def __init__(self, ort: ModuleType, path: Path, threads: int, op_profile: bool) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        if op_profile:
            self._profile_dir = tempfile.TemporaryDirectory(prefix="edgesub-ortprof-")
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(self._profile_dir.name) / "ort")
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.threads = self.session.get_session_options().intra_op_num_threads
        self.inputs = [
            InputSpec(
                name=meta.name,
                shape=tuple(
                    dim if isinstance(dim, int) and dim > 0 else None for dim in meta.shape
                ),
                dtype=_ort_dtype(meta.type, meta.name),
            )
            for meta in self.session.get_inputs()
        ]
        self._feeds: dict[str, np.ndarray] = {}

    def prepare(self, feeds: dict[str, np.ndarray]) -> None:
        self._feeds = feeds

    def run(self) -> None:
        self.session.run(None, self._feeds)


def _ort_errors(ort: ModuleType) -> tuple[type[Exception], ...]:
    """ORT's own exception classes (InvalidProtobuf, Fail, ...), which are not RuntimeErrors."""
    state = ort.capi.onnxruntime_pybind11_state
    return tuple(
        obj for obj in vars(state).values() if isinstance(obj, type) and issubclass(obj, Exception)
    )


def _ort_dtype(type_name: str, input_name: str) -> str:
    try:
        return ORT_DTYPES[type_name]
    except KeyError:
        raise ModelFileError(
            f"model input '{input_name}' has type {type_name}, which edgesub cannot synthesise"
        ) from None


@BACKENDS.get("onnx").provides("runtime")
class OnnxRuntime(Runtime):
    """ONNX Runtime on the CPU execution provider, sequential, ``threads`` intra-op threads."""

    name = "onnxruntime"

    def import_backend(self) -> tuple[str, str]:
        return self.name, require("onnxruntime", "runtime").__version__

    def load(self, path: Path, threads: int, *, op_profile: bool = False) -> Session:
        ort = require("onnxruntime", "runtime")
        try:
            return OrtSession(ort, path, threads, op_profile)
        except (RuntimeError, ValueError, OSError, *_ort_errors(ort)) as exc:
            raise ModelFileError(f"onnxruntime cannot load {path.name}: {first_line(exc)}") from exc

    def op_profile(self, session: Session, skip_runs: int = 0) -> dict[str, float]:
        if not isinstance(session, OrtSession) or not hasattr(session, "_profile_dir"):
            raise EdgesubError("the session was not loaded with op_profile=True")
        trace = Path(session.session.end_profiling())
        events = json.loads(trace.read_text(encoding="utf-8"))
        session._profile_dir.cleanup()
        return summarise_ort_profile(events, skip_runs)


def summarise_ort_profile(events: list[dict[str, Any]], skip_runs: int = 0) -> dict[str, float]:
    """Kernel time per op type in ms per inference, averaged over the profiled runs.

    ORT's trace holds one ``model_run`` event per ``session.run`` and one ``*_kernel_time`` node
    event per executed kernel; summing node ``dur`` (µs) by ``op_name`` and dividing by the run
    count gives a figure comparable with ``latency_ms``. The first ``skip_runs`` runs (warm-up)
    are left out, as they are for latency.
    """
    starts = sorted(
        e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"
    )[skip_runs:]
    if not starts:
        return {}
    totals: dict[str, float] = defaultdict(float)
    for event in events:
        if (
            event.get("cat") == "Node"
            and str(event.get("name", "")).endswith("_kernel_time")
            and event["ts"] >= starts[0]
        ):
            totals[event["args"]["op_name"]] += event["dur"] / 1000.0
    runs = len(starts)
    return {op: round(ms / runs, 6) for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])}


# --- TFLite --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TfliteBackend:
    """One place a TFLite ``Interpreter`` class can come from, tried in order of preference."""

    module: str
    attribute: str
    distribution: str


# ai-edge-litert is the maintained interpreter; tflite-runtime is what older Pi images ship
# (numpy<2 only); full TensorFlow is the last resort.
_TFLITE_BACKENDS = (
    _TfliteBackend("ai_edge_litert.interpreter", "Interpreter", "ai-edge-litert"),
    _TfliteBackend("tflite_runtime.interpreter", "Interpreter", "tflite-runtime"),
    _TfliteBackend("tensorflow", "lite.Interpreter", "tensorflow"),
)


def import_tflite() -> tuple[Any, _TfliteBackend]:
    """The first TFLite ``Interpreter`` class that imports, and where it came from."""
    for backend in _TFLITE_BACKENDS:
        try:
            obj: Any = importlib.import_module(backend.module)
        except ImportError:
            continue
        for part in backend.attribute.split("."):
            obj = getattr(obj, part)
        return obj, backend
    raise MissingDependencyError(
        "a TFLite interpreter is required to run .tflite files (ai-edge-litert, "
        "tflite-runtime or tensorflow); install it with: pip install 'edgesub[runtime]'"
    )


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def tflite_input_names(interpreter: Any) -> list[str]:
    """Each input's name as the file's only signature calls it (litert-torch's
    ``serving_default_input_ids`` tensor is ``input_ids`` there, the name the torch model and
    its ONNX twin use), else the tensor's own name."""
    details = interpreter.get_input_details()
    by_index: dict[int, str] = {}
    try:
        signatures = list(interpreter.get_signature_list())
        if len(signatures) == 1:
            runner = interpreter.get_signature_runner(signatures[0])
            by_index = {d["index"]: name for name, d in runner.get_input_details().items()}
    except (AttributeError, ValueError, RuntimeError):  # an interpreter without signatures
        by_index = {}
    names = [by_index.get(d["index"], d["name"]) for d in details]
    return names if len(set(names)) == len(names) else [d["name"] for d in details]


class TfliteSession(Session):
    def __init__(self, interpreter_cls: Any, path: Path, threads: int) -> None:
        self.interpreter = interpreter_cls(model_path=str(path), num_threads=threads)
        self.path = path
        self.threads = threads
        self._details = self.interpreter.get_input_details()
        self._outputs = [d["index"] for d in self.interpreter.get_output_details()]
        names = tflite_input_names(self.interpreter)
        self.inputs = [_tflite_spec(d, n) for d, n in zip(self._details, names, strict=True)]
        self._bound: list[tuple[int, np.ndarray]] = []

    def prepare(self, feeds: dict[str, np.ndarray]) -> None:
        pairs = [(d, feeds[s.name]) for d, s in zip(self._details, self.inputs, strict=True)]
        for detail, array in pairs:
            if tuple(detail["shape"]) != array.shape:
                self.interpreter.resize_tensor_input(detail["index"], list(array.shape))
        try:
            with native_noise_filtered():  # the XNNPACK delegate's INFO line
                self.interpreter.allocate_tensors()
        except RuntimeError as exc:
            raise ModelFileError(_prepare_failure(self.path, str(exc))) from None
        self._bound = [(d["index"], array) for d, array in pairs]

    def run(self) -> None:
        for index, array in self._bound:
            self.interpreter.set_tensor(index, array)
        self.interpreter.invoke()
        for index in self._outputs:
            self.interpreter.get_tensor(index)


def _prepare_failure(path: Path, message: str) -> str:
    """One line for an interpreter that cannot prepare a model, naming unresolved custom ops."""
    custom = sorted(set(re.findall(r"unresolved custom op: ([\w.-]+?)\.?(?:\s|$)", message)))
    if custom:
        return (
            f"cannot run {path.name}: custom op(s) {', '.join(custom)} are not built into the "
            "TFLite interpreter (the runtime that made the model must register them)"
        )
    return f"cannot prepare {path.name} with the TFLite interpreter: {message.splitlines()[0]}"


def _tflite_spec(detail: dict[str, Any], name: str) -> InputSpec:
    import numpy as np

    signature = detail.get("shape_signature")
    dims = signature if signature is not None and len(signature) else detail["shape"]
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return InputSpec(
        name=name,
        shape=tuple(int(d) if d > 0 else None for d in dims),
        dtype=np.dtype(detail["dtype"]).name,
        quantization=(float(scale), int(zero_point)) if scale else None,
    )


@BACKENDS.get("tflite").provides("runtime")
class TfliteRuntime(Runtime):
    """The first TFLite interpreter available: ai-edge-litert, tflite-runtime, tensorflow.lite."""

    name = "tflite"

    def import_backend(self) -> tuple[str, str]:
        _, backend = import_tflite()
        return backend.distribution, _distribution_version(backend.distribution)

    def load(self, path: Path, threads: int, *, op_profile: bool = False) -> Session:
        if op_profile:
            raise EdgesubError("per-op profiling is only available for .onnx artifacts")
        interpreter_cls, _ = import_tflite()
        try:
            return TfliteSession(interpreter_cls, path, threads)
        except (RuntimeError, ValueError) as exc:
            raise ModelFileError(f"cannot load {path.name} as TFLite: {first_line(exc)}") from exc


# --- Inputs --------------------------------------------------------------------------------------


def resolve_shape(
    spec: InputSpec, input_shape: tuple[int, ...] | None, *, several: bool = False
) -> tuple[int, ...]:
    """The concrete shape to feed ``spec``: its own when fully known, else ``input_shape``
    (the hint names the input when the model has ``several``)."""
    if input_shape is not None and shape_fits(spec.shape, input_shape):
        return tuple(input_shape)
    if all(dim is not None for dim in spec.shape):
        return tuple(int(dim) for dim in spec.shape)  # type: ignore[arg-type]
    batched = batch_of_one(spec.shape)
    if batched is not None and input_shape is None:
        return batched
    shown = "x".join("?" if dim is None else str(dim) for dim in spec.shape)
    example = ",".join("1" if dim is None else str(dim) for dim in spec.shape)
    given = (
        f" (--input-shape {','.join(map(str, input_shape))} does not fit it)" if input_shape else ""
    )
    raise InputShapeError(
        f"model input '{spec.name}' has a dynamic shape {shown}{given}; "
        f"pass a concrete shape with --input-shape, e.g. --input-shape "
        f"{spec.name + '=' if several else ''}{example}"
    )


def synthesise_inputs(
    specs: list[InputSpec], input_shape: ShapeOverride = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Deterministic inputs matching each spec's shape and dtype; ``input_shape`` is one shape
    (every input it fits) or input name → shape (exactly that input).

    Floats are standard normal; quantised int8/uint8 inputs are normal floats quantised with the
    input's own scale and zero point; unquantised 8-bit inputs (raw image bytes) span their whole
    range; wider integers are 0/1 so index inputs such as token ids stay in range.
    """
    import numpy as np

    bare, named = split_override(input_shape, {s.name: s.shape for s in specs}, None)
    for spec in specs:
        if spec.name in named and not shape_fits(spec.shape, named[spec.name]):
            raise InputShapeError(
                f"--input-shape {spec.name}={','.join(map(str, named[spec.name]))} does not fit "
                f"input '{spec.name}' {list(spec.shape)}"
            )
    unnamed = [s for s in specs if s.name not in named]
    if bare is not None and not any(shape_fits(s.shape, bare) for s in unnamed):
        shapes = ", ".join(f"{s.name}: {list(s.shape)}" for s in unnamed)
        raise InputShapeError(
            f"--input-shape {','.join(map(str, bare))} fits no model input ({shapes})"
        )
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        shape = resolve_shape(spec, named.get(spec.name, bare), several=len(specs) > 1)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            array = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            array = rng.integers(0, 2, size=shape).astype(bool)
        elif spec.quantization is not None:
            scale, zero_point = spec.quantization
            info = np.iinfo(dtype)
            quantised = np.round(rng.standard_normal(shape) / scale + zero_point)
            array = np.clip(quantised, info.min, info.max).astype(dtype)
        elif dtype.itemsize == 1:
            info = np.iinfo(dtype)
            array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        else:
            array = rng.integers(0, 2, size=shape).astype(dtype)
        feeds[spec.name] = array
    return feeds
