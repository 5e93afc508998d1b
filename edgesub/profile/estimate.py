"""Latency and memory estimates of a parsed graph on a device profile.

Latency is a per-op roofline: each op takes the longer of its compute time (MACs at a calibrated
fraction of the device's peak for the op's kind and precision, spread over threads with Amdahl
scaling) and its memory time (bytes moved at a calibrated fraction of DRAM bandwidth), plus a
fixed per-op dispatch cost that shrinks with clock speed. The few free parameters are fitted on
published measurements by ``benchmarks/calibrate_estimator.py`` and shipped as
``calibration.json``; its leave-one-out error is the band every estimate carries.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from edgesub.errors import EstimateError
from edgesub.profile.devices import DeviceProfile
from edgesub.profile.graph import OP_KINDS, Graph, OpCost
from edgesub.registry import Registry

MB = 1024 * 1024


@dataclass(frozen=True)
class RuntimeCosts:
    """What the estimator must know about an inference runtime (the runtimes that *run* a file
    are :data:`edgesub.profile.runtimes.RUNTIMES`).

    ``overhead_mb``: resident memory beyond weights and activations (library, kernel scratch,
    allocator slack): peak RSS growth from Python + numpy (25 MB) to a session that ran a 12 kB
    model, measured on x86-64 with onnxruntime 1.32 (+30 MB) and ai-edge-litert 2.3 with XNNPACK
    (+13 MB); ARM builds are of the same order. ncnn (only used to interpret published rows) is a
    small C++ library, not measured here. ``fp32_as_fp16``: the runtime computes fp32 models in
    fp16 on cores with FP16 arithmetic (ncnn's default on ARMv8.2).
    """

    name: str
    overhead_mb: float
    fp32_as_fp16: bool


RUNTIME_COSTS: Registry[RuntimeCosts] = Registry("runtime")
for _runtime in (
    RuntimeCosts("onnxruntime", overhead_mb=30.0, fp32_as_fp16=False),
    RuntimeCosts("tflite", overhead_mb=13.0, fp32_as_fp16=False),
    RuntimeCosts("ncnn", overhead_mb=4.0, fp32_as_fp16=True),
):
    RUNTIME_COSTS.add(_runtime.name, _runtime)
RUNTIME_FOR_FORMAT = {"onnx": "onnxruntime", "tflite": "tflite"}

# RAM the OS and other processes keep: a Linux board idles at a few hundred MB, a phone keeps
# far more for the system and apps; a share of RAM with a floor captures both.
OS_RESERVE_FRACTION = 0.3
OS_RESERVE_MIN_MB = 192.0


@dataclass(frozen=True)
class EstimatorParams:
    """Calibrated constants, each a physical quantity rather than a per-model answer."""

    efficiency: dict[str, float]  # achieved share of peak MAC rate per op kind
    int8_efficiency: float  # extra factor for int8 kernels (packing, requantisation)
    memory_efficiency: float  # achieved share of DRAM bandwidth
    op_overhead_us_ghz: float  # per-op dispatch cost in µs at 1 GHz (scaled by 1/clock)
    parallel_fraction: float  # Amdahl fraction of work that threads share
    latency_error_pct: float  # expected ± error from leave-one-out on published measurements

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EstimatorParams:
        params = raw["params"]
        return cls(
            efficiency={k: float(params["efficiency"][k]) for k in OP_KINDS if k != "other"},
            int8_efficiency=float(params["int8_efficiency"]),
            memory_efficiency=float(params["memory_efficiency"]),
            op_overhead_us_ghz=float(params["op_overhead_us_ghz"]),
            parallel_fraction=float(params["parallel_fraction"]),
            latency_error_pct=float(raw["latency_error_pct"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "efficiency": dict(self.efficiency),
            "int8_efficiency": self.int8_efficiency,
            "memory_efficiency": self.memory_efficiency,
            "op_overhead_us_ghz": self.op_overhead_us_ghz,
            "parallel_fraction": self.parallel_fraction,
        }


@functools.cache
def load_params() -> EstimatorParams:
    """The calibrated parameters shipped with the package."""
    text = resources.files("edgesub.profile").joinpath("calibration.json").read_text("utf-8")
    return EstimatorParams.from_dict(json.loads(text))


@dataclass(frozen=True)
class Estimate:
    """Estimated figures for one graph on one device at one thread count."""

    latency_ms: float
    latency_error_pct: float
    peak_memory_mb: float
    fits_in_memory: bool
    macs: int
    threads: int


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


def compute_rate_gops(device: DeviceProfile, arithmetic: str, threads: int, p: float) -> float:
    """Achievable peak of ``threads`` threads: the first core's peak times Amdahl speedup.

    Ideal speedup is the summed peak of the busy cores over the first core's, so a phone's slower
    cores add less than its prime core.
    """
    peaks = device.peak_gops(arithmetic, threads)
    ideal = sum(peaks) / peaks[0]
    return peaks[0] / ((1.0 - p) + p / ideal)


def arithmetic(op: OpCost, runtime: RuntimeCosts) -> str:
    """The arithmetic a kernel runs in: fp16-stored weights are computed in fp32 on CPUs."""
    if op.precision == "int8":
        return "int8"
    return "fp16" if runtime.fp32_as_fp16 else "fp32"


def op_seconds(
    op: OpCost, device: DeviceProfile, threads: int, params: EstimatorParams, runtime: RuntimeCosts
) -> float:
    """Roofline time of one op plus its dispatch overhead."""
    memory = op.bytes_moved / (device.bandwidth_gbps * 1e9 * params.memory_efficiency)
    compute = 0.0
    if op.macs:
        efficiency = params.efficiency.get(op.kind, params.efficiency["conv"])
        if op.precision == "int8":
            efficiency *= params.int8_efficiency
        rate = compute_rate_gops(device, arithmetic(op, runtime), threads, params.parallel_fraction)
        compute = 2.0 * op.macs / (rate * 1e9 * efficiency)
    overhead = params.op_overhead_us_ghz * 1e-6 / device.clock_ghz
    return max(compute, memory) + overhead


def runtime_costs_for(graph: Graph, runtime: str | None = None) -> RuntimeCosts:
    """The named runtime, else the one that runs the graph's file format."""
    return RUNTIME_COSTS.get(runtime or RUNTIME_FOR_FORMAT.get(graph.format, "onnxruntime"))


def estimate_latency_ms(
    graph: Graph,
    device: DeviceProfile,
    threads: int = 1,
    params: EstimatorParams | None = None,
    runtime: str | None = None,
    allow_partial: bool = False,
) -> float:
    """Estimated latency of one inference (batch as in the graph) in milliseconds."""
    check_estimable(graph, allow_partial)
    params = params or load_params()
    rt = runtime_costs_for(graph, runtime)
    return 1e3 * sum(op_seconds(op, device, threads, params, rt) for op in graph.ops)


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
) -> Estimate:
    """Latency and memory of ``graph`` on ``device`` with ``threads`` threads."""
    params = params or load_params()
    memory = estimate_memory_mb(graph)
    return Estimate(
        latency_ms=estimate_latency_ms(graph, device, threads, params, allow_partial=allow_partial),
        latency_error_pct=params.latency_error_pct,
        peak_memory_mb=memory,
        fits_in_memory=memory <= usable_ram_mb(device),
        macs=graph.macs,
        threads=min(threads, device.cores),
    )
