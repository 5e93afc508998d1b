"""Latency and memory estimates of a parsed graph on a device profile.

Latency is a per-op roofline: each op takes the longer of its compute time (MACs at a calibrated
fraction of each busy core's peak for the op's kind, precision, core class and runtime, split
over the busy cores of the cluster layout, plus a fork-join cost per multi-threaded kernel) and
its memory time (bytes moved, as the runtime stores the tensors, at a calibrated fraction of
DRAM bandwidth), plus the runtime's measured dispatch cost per op and per
inference, which shrinks with clock speed. The few free parameters are fitted on published
measurements by ``benchmarks/calibrate_estimator.py`` and shipped as ``calibration.json``; the
leave-one-device-out error of each core class is the band its estimates carry.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from edgesub.errors import EstimateError
from edgesub.profile.cores import core_class, device_class
from edgesub.profile.devices import DeviceProfile
from edgesub.profile.graph import OP_KINDS, Graph, OpCost
from edgesub.registry import Registry

MB = 1024 * 1024


@dataclass(frozen=True)
class RuntimeCosts:
    """What the estimator must know about an inference runtime and kernel backend (the runtimes
    that *run* a file here are the backends' runtimes, :mod:`edgesub.profile.runtimes`).

    ``overhead_mb``: resident memory beyond weights and activations (library, kernel scratch,
    allocator slack): peak RSS growth from Python + numpy (25 MB) to a session that ran a 12 kB
    model, measured on x86-64 with onnxruntime 1.32 (+30 MB) and ai-edge-litert 2.3 with XNNPACK
    (+13 MB); ARM builds are of the same order. ncnn (only used to interpret published rows) is a
    small C++ library, not measured here. ``fp32_as_fp16``: the runtime computes fp32 models in
    fp16 on cores with FP16 arithmetic (ncnn's default on ARMv8.2). A variant's name starts with
    its runtime's (``tflite-legacy`` is TFLite's own kernels before XNNPACK and ruy). Its kernels'
    speed relative to the reference backend is calibrated (``runtime_efficiency``): overall, for
    depthwise convolutions (``NAME:depthwise``: each runtime has its own, and ONNX Runtime's
    ARM build runs them as one small GEMM per channel), for spatial convolutions
    (``NAME:conv``) only where ``own_conv_algorithms`` (ncnn's Winograd and direct 3×3
    kernels; ONNX Runtime and TFLite run them as im2col + the GEMM of 1×1 convolutions, so the
    overall factor holds) and for int8 kernels (``NAME:int8``).

    ``op_us_ghz`` / ``run_us_ghz``: dispatch cost per op and per inference in µs at 1 GHz (scaled
    by 1/clock), measured by ``benchmarks/dispatch_overhead.py`` (chains of tiny ops, one
    thread, on this project's x86-64 host; the interpreter loop's cycles carry to Arm cores to
    first order). Published 224-px latencies cannot resolve them, and the tiny students live on
    them. ncnn was not measured: it takes the built-in TFLite kernels' figures (a plain C++
    layer loop alike). ``dot_product``: whether int8 kernels use the ARMv8.2 dot-product
    instructions where the core has them (XNNPACK, ruy, MLAS and ncnn do; TFLite's gemmlowp era
    did not, so its int8 ran at the widening-multiply rate). ``float_between_int8``: int8 layers
    quantise their float input and dequantise their output, so the tensors between layers stay
    float (ncnn's int8 convolutions: only weights and the GEMM are int8); in fp16 where the
    runtime stores fp32 models in fp16, as ncnn does on cores with FP16 arithmetic.
    """

    name: str
    description: str
    overhead_mb: float
    fp32_as_fp16: bool
    op_us_ghz: float
    run_us_ghz: float
    dot_product: bool = True  # int8 kernels use SDOT/UDOT where the core has them
    float_between_int8: bool = False  # int8 layers read and write float tensors
    own_conv_algorithms: bool = False  # spatial convs not run as im2col + the 1×1 GEMM


RUNTIME_COSTS: Registry[RuntimeCosts] = Registry("runtime")
for _runtime in (
    RuntimeCosts("onnxruntime", "ONNX Runtime, CPU (MLAS kernels)", 30.0, False, 1.409, 51.1),
    RuntimeCosts("tflite", "TFLite / LiteRT with XNNPACK", 13.0, False, 0.151, 4.2),
    RuntimeCosts(
        "tflite-legacy", "TFLite 1.x-2.2 built-in kernels (Eigen, gemmlowp)", 13.0, False, 0.166,
        2.8, dot_product=False,
    ),
    RuntimeCosts(
        "ncnn", "Tencent ncnn (fp16 arithmetic on ARMv8.2)", 4.0, True, 0.166, 2.8,
        float_between_int8=True, own_conv_algorithms=True,
    ),
):  # fmt: skip
    RUNTIME_COSTS.add(_runtime.name, _runtime)
RUNTIME_FOR_FORMAT = {"onnx": "onnxruntime", "tflite": "tflite"}
REFERENCE_RUNTIME = "tflite-legacy"  # runtime_efficiency is relative to this backend

# RAM the OS and other processes keep: a Linux board idles at a few hundred MB, a phone keeps
# far more for the system and apps; a share of RAM with a floor captures both.
OS_RESERVE_FRACTION = 0.3
OS_RESERVE_MIN_MB = 192.0
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class EstimatorParams:
    """Calibrated constants, each a physical quantity rather than a per-model answer.

    ``core_efficiency`` and ``runtime_efficiency`` multiply the per-kind ``efficiency``; a class
    or runtime the calibration had no rows for stays at 1 (the fit's prior). ``error_band_pct``
    is the leave-one-device-out error per core class; ``latency_error_pct`` the overall one.
    """

    efficiency: dict[str, float]  # achieved share of peak MAC rate per op kind
    core_efficiency: dict[str, float]  # factor per core class (edgesub.profile.cores)
    runtime_efficiency: dict[str, float]  # factor per runtime variant, reference = 1
    int8_efficiency: float  # extra factor for int8 kernels (packing, requantisation)
    memory_efficiency: float  # achieved share of DRAM bandwidth
    fork_join_us_ghz: float  # per multi-threaded MAC kernel, µs at 1 GHz
    latency_error_pct: float  # expected ± error on a device outside the calibration
    error_band_pct: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EstimatorParams:
        params = raw["params"]
        return cls(
            efficiency={k: float(params["efficiency"][k]) for k in OP_KINDS if k != "other"},
            core_efficiency=_floats(params.get("core_efficiency", {})),
            runtime_efficiency=_floats(params.get("runtime_efficiency", {})),
            int8_efficiency=float(params["int8_efficiency"]),
            memory_efficiency=float(params["memory_efficiency"]),
            fork_join_us_ghz=float(params["fork_join_us_ghz"]),
            latency_error_pct=float(raw["latency_error_pct"]),
            error_band_pct=_floats(raw.get("error_band_pct", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "efficiency": dict(self.efficiency),
            "core_efficiency": dict(self.core_efficiency),
            "runtime_efficiency": dict(self.runtime_efficiency),
            "int8_efficiency": self.int8_efficiency,
            "memory_efficiency": self.memory_efficiency,
            "fork_join_us_ghz": self.fork_join_us_ghz,
        }

    def band_pct(self, device: DeviceProfile) -> float:
        """A calibrated device's own leave-one-out error, else the error band of its class
        (its first cluster's), else the overall one."""
        if device.calibration is not None:
            return device.calibration.error_pct
        return self.error_band_pct.get(device_class(device), self.latency_error_pct)


def _floats(table: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in table.items()}


@functools.cache
def load_params() -> EstimatorParams:
    """The calibrated parameters shipped with the package."""
    text = resources.files("edgesub.profile").joinpath("calibration.json").read_text("utf-8")
    return EstimatorParams.from_dict(json.loads(text))


@dataclass(frozen=True)
class LatencyParts:
    """One inference's time split by what bounds it, in seconds: the power a core draws
    depends on it (FMA-bound kernels draw far more than memory stalls or dispatch)."""

    compute_s: float = 0.0  # ops whose MAC time exceeds their memory time
    memory_s: float = 0.0  # ops bound by DRAM bandwidth, and ops without MACs
    overhead_s: float = 0.0  # the runtime's dispatch cost per op and per inference

    def __add__(self, other: LatencyParts) -> LatencyParts:
        return LatencyParts(
            self.compute_s + other.compute_s,
            self.memory_s + other.memory_s,
            self.overhead_s + other.overhead_s,
        )

    @property
    def total_ms(self) -> float:
        return 1e3 * (self.compute_s + self.memory_s + self.overhead_s)


@dataclass(frozen=True)
class Estimate:
    """Estimated figures for one graph on one device at one thread count."""

    latency_ms: float
    latency_error_pct: float
    peak_memory_mb: float
    fits_in_memory: bool
    macs: int
    threads: int
    runtime: str
    parts: LatencyParts = dataclasses.field(default_factory=LatencyParts)


def check_estimable(graph: Graph, allow_partial: bool = False) -> None:
    """Custom ops have no cost model, and ops of unknown cost would silently cost nothing:
    name them rather than guess. ``allow_partial`` estimates the costed ops only (the record
    then says so through its ``costed_fraction``)."""
    if graph.custom_ops:
        raise EstimateError(
            f"{graph.path.name}: cannot estimate custom op(s) {', '.join(graph.custom_ops)}; "
            "no cost model is known for them"
        )
    if graph.uncosted_ops and not allow_partial:
        missing = sum(not op.costed for op in graph.ops)
        raise EstimateError(
            f"{graph.path.name}: cannot estimate: the cost of {missing} of {len(graph.ops)} ops "
            f"is unknown ({', '.join(graph.uncosted_ops)}: no cost rule, or shapes unresolved); "
            "--allow-partial estimates the rest and flags it"
        )


def compute_rate_gops(
    device: DeviceProfile, arithmetic: str, threads: int, params: EstimatorParams
) -> float:
    """Achieved MAC-kernel rate of ``threads`` threads, before the op kind's efficiency.

    Each busy core contributes its peak times its class's efficiency, and a kernel's work is
    split in proportion (a phone's little cores add less than its prime core). What threads
    cost is not a share of the work but a fixed price per kernel (:func:`fork_join_seconds`),
    so large convolutions scale with the cores and small ops do not.
    """
    peaks = device.peak_gops(arithmetic, threads)
    cores = device.thread_cores(threads)
    return sum(
        peak * params.core_efficiency.get(core_class(core.microarchitecture), 1.0)
        for peak, core in zip(peaks, cores, strict=True)
    )


def fork_join_seconds(device: DeviceProfile, threads: int, params: EstimatorParams) -> float:
    """What splitting one MAC kernel over the busy cores and joining them costs (waking the
    pool, the barrier, the slowest thread's imbalance), in cycles of the first core; nothing
    on one core."""
    if len(device.thread_cores(threads)) < 2:
        return 0.0
    return params.fork_join_us_ghz * 1e-6 / device.clock_ghz


ARITHMETIC = ("fp32", "fp16", "int8", "int8-nodot")


def arithmetic(op: OpCost, runtime: RuntimeCosts) -> str:
    """The arithmetic a kernel runs in: fp16-stored weights are computed in fp32 on CPUs."""
    if op.precision == "int8":
        return "int8" if runtime.dot_product else "int8-nodot"
    return "fp16" if runtime.fp32_as_fp16 else "fp32"


def fp16_storage(device: DeviceProfile, threads: int, runtime: RuntimeCosts) -> bool:
    """Whether the runtime keeps fp32 models' tensors in fp16: where it computes them in fp16
    and the first busy core has FP16 arithmetic (elsewhere it runs fp32 kernels)."""
    core = device.thread_cores(threads)[0]
    return runtime.fp32_as_fp16 and core.fp16_flops_per_cycle > core.fp32_flops_per_cycle


def storage_bytes(op: OpCost, runtime: RuntimeCosts, fp16: bool) -> float:
    """Bytes one op moves as the runtime stores its tensors (``fp16``: :func:`fp16_storage`):
    half the file's fp32 bytes in fp16; float tensors around int8 layers that dequantise."""
    weights, tensors = float(op.weight_bytes), float(op.input_bytes + op.output_bytes)
    if op.precision == "int8" and runtime.float_between_int8:
        tensors *= 2.0 if fp16 else 4.0
    elif op.precision == "fp32" and fp16:
        weights, tensors = weights / 2.0, tensors / 2.0
    return weights + tensors


def op_times(
    op: OpCost,
    device: DeviceProfile,
    threads: int,
    params: EstimatorParams,
    runtime: RuntimeCosts,
    rates: dict[str, float] | None = None,
) -> tuple[float, float, float]:
    """One op's compute, memory and dispatch seconds before the device's own calibration
    (``rates``: per-arithmetic kernel rates of :func:`compute_rate_gops`, computed once per
    graph by the caller)."""
    moved = storage_bytes(op, runtime, fp16_storage(device, threads, runtime))
    memory = moved / (device.bandwidth_gbps * 1e9 * params.memory_efficiency)
    compute = 0.0
    if op.macs:
        efficiency = params.efficiency.get(op.kind, params.efficiency["conv"])
        efficiency *= runtime_factor(params, runtime.name, op.kind, op.precision)
        if op.precision == "int8":
            efficiency *= params.int8_efficiency
        kind = arithmetic(op, runtime)
        rate = (rates or {}).get(kind) or compute_rate_gops(device, kind, threads, params)
        compute = 2.0 * op.macs / (rate * 1e9 * efficiency)
        compute += fork_join_seconds(device, threads, params)
    return compute, memory, runtime.op_us_ghz * 1e-6 / device.clock_ghz


def device_scales(device: DeviceProfile) -> tuple[float, float, float]:
    """The compute, memory and overhead scales of a calibrated profile, else ones."""
    cal = device.calibration
    return (cal.compute_scale, cal.memory_scale, cal.overhead_scale) if cal else (1.0, 1.0, 1.0)


def bounded_parts(
    compute: float, memory: float, overhead: float, scales: tuple[float, float, float]
) -> LatencyParts:
    """One op's :func:`op_times` with the device's calibration ``scales``, split by what
    bounds it (the longer of compute and memory: a roofline)."""
    compute_scale, memory_scale, overhead_scale = scales
    compute, memory = compute * compute_scale, memory * memory_scale
    if compute > memory:
        return LatencyParts(compute_s=compute, overhead_s=overhead * overhead_scale)
    return LatencyParts(memory_s=memory, overhead_s=overhead * overhead_scale)


def runtime_factor(params: EstimatorParams, runtime: str, kind: str, precision: str) -> float:
    """The runtime's calibrated speed relative to the reference backend for one op: overall,
    times its factor for the op's kind (``NAME:depthwise``, ``NAME:conv``) where it has one,
    times its int8 factor for int8 kernels."""
    table = params.runtime_efficiency
    factor = table.get(runtime, 1.0) * table.get(f"{runtime}:{kind}", 1.0)
    if precision == "int8":
        factor *= table.get(f"{runtime}:int8", 1.0)
    return factor


def runtime_costs_for(graph: Graph, runtime: str | None = None) -> RuntimeCosts:
    """The named runtime, else the one that runs the graph's file format."""
    return RUNTIME_COSTS.get(runtime or RUNTIME_FOR_FORMAT.get(graph.format, "onnxruntime"))


def latency_parts(
    graph: Graph,
    device: DeviceProfile,
    threads: int = 1,
    params: EstimatorParams | None = None,
    runtime: str | None = None,
    allow_partial: bool = False,
) -> LatencyParts:
    """One inference's estimated time (batch as in the graph), split by what bounds it."""
    check_estimable(graph, allow_partial)
    params = params or load_params()
    rt = runtime_costs_for(graph, runtime)
    rates = {kind: compute_rate_gops(device, kind, threads, params) for kind in ARITHMETIC}
    scales = device_scales(device)  # once per graph, not per op
    parts = LatencyParts(overhead_s=run_seconds(device, rt) * scales[2])
    for op in graph.ops:  # the roofline of each op, then its dispatch
        parts = parts + bounded_parts(*op_times(op, device, threads, params, rt, rates), scales)
    return parts


def run_seconds(device: DeviceProfile, runtime: RuntimeCosts) -> float:
    """The runtime's dispatch cost per inference on ``device``, before calibration."""
    return runtime.run_us_ghz * 1e-6 / device.clock_ghz


def estimate_memory_mb(graph: Graph, runtime: str | None = None) -> float:
    """Weights + peak live activations + the runtime's own resident overhead."""
    data = (graph.weight_bytes + graph.peak_activation_bytes) / MB
    return data + runtime_costs_for(graph, runtime).overhead_mb


def usable_ram_mb(device: DeviceProfile) -> float:
    """RAM left for the model once the OS reserve is taken."""
    return device.ram_mb - max(OS_RESERVE_MIN_MB, OS_RESERVE_FRACTION * device.ram_mb)


def estimate(
    graph: Graph,
    device: DeviceProfile,
    threads: int = 1,
    params: EstimatorParams | None = None,
    allow_partial: bool = False,
    runtime: str | None = None,
) -> Estimate:
    """Latency and memory of ``graph`` on ``device`` with ``threads`` threads, as ``runtime``
    (a :data:`RUNTIME_COSTS` name; default: the one that runs the file's format) would run it."""
    params = params or load_params()
    rt = runtime_costs_for(graph, runtime)
    memory = estimate_memory_mb(graph, rt.name)
    parts = latency_parts(graph, device, threads, params, rt.name, allow_partial)
    return Estimate(
        latency_ms=parts.total_ms,
        latency_error_pct=params.band_pct(device),
        peak_memory_mb=memory,
        fits_in_memory=memory <= usable_ram_mb(device),
        macs=graph.macs,
        threads=min(threads, device.cores),
        runtime=rt.name,
        parts=parts,
    )
