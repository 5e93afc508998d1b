"""Fit the latency estimator's free parameters to published measurements (shared by the scripts).

The parameters are physical and few: the efficiency of spatial, 1×1 and depthwise convolutions
(matmuls share the 1×1 one: both are plain GEMMs), one factor per core class
(``edgesub.profile.cores``) and per kernel backend (relative to TFLite with XNNPACK), an int8
factor, the achieved share of DRAM bandwidth and the fork-join cost of a multi-threaded kernel.
Dispatch costs
are measured, not fitted (``benchmarks/dispatch_overhead.py``). Fitted by least squares on
log(estimate / published), so a 2× miss on a 5 ms model weighs as much as on a 500 ms one.
Class and backend factors carry a weak log-normal prior at 1: it fixes their scale against the
kind efficiencies and leaves a class without rows at 1.

Held-out error is measured three ways: leave-one-row-out, leave-one-device-out (refit without
every row of the device, then predict them: a device the user has that the calibration never
saw) and leave-one-model-out (the same for a model family: width and resolution variants of one
network go out together).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from reference_models import REFERENCE_MODELS, graph_for
from scipy.optimize import least_squares

from edgesub.profile.cores import UNKNOWN_CLASS, core_class, device_class
from edgesub.profile.devices import DeviceProfile, load_devices
from edgesub.profile.estimate import (
    ARITHMETIC,
    REFERENCE_RUNTIME,
    RUNTIME_COSTS,
    EstimatorParams,
    arithmetic,
    compute_rate_gops,
    fork_join_seconds,
    fp16_storage,
    latency_parts,
    runtime_factor,
    storage_bytes,
)
from edgesub.profile.graph import Graph
from edgesub.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
CSV_CANDIDATES = [
    ROOT / "benchmarks" / "calibration" / "published_latency.csv",
    ROOT.parent / "shared" / "calibration" / "published_latency.csv",
]

# name, initial value, lower and upper bound (physically plausible ranges)
BASE_PARAMS = [
    ("eff_conv", 0.5, 0.05, 1.0),
    ("eff_pointwise", 0.5, 0.05, 1.0),
    ("eff_depthwise", 0.2, 0.01, 1.0),
    ("int8_efficiency", 0.7, 0.1, 2.0),
    ("memory_efficiency", 0.5, 0.05, 1.0),
    ("fork_join_us_ghz", 10.0, 0.1, 300.0),
]
FACTOR_BOUNDS = (0.1, 10.0)
# One standard deviation of the prior on a class or backend factor: a factor of 3.
PRIOR_SIGMA = math.log(3.0)


@dataclass(frozen=True)
class Row:
    model: str
    device: str
    threads: int
    precision: str
    latency_ms: float
    runtime: str
    source: str

    @property
    def family(self) -> str:
        """The network without its width/resolution variant: ``mobilenet_v1_0.5_160`` →
        ``mobilenet_v1``, ``efficientnet_lite3`` → ``efficientnet_lite``."""
        name = re.sub(r"(_\d+(\.\d+)?)+$", "", self.model)
        return re.sub(r"(lite|b)\d$", r"\1", name)


def find_csv() -> Path:
    for path in CSV_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError(f"published_latency.csv not found in {CSV_CANDIDATES}")


def read_rows(path: Path) -> tuple[list[Row], list[dict[str, str]]]:
    """Rows the estimator can model, and the skipped ones (runtime not modelled, model not
    built, device without a profile), each with the reason."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    devices = load_devices()
    rows, skipped = [], []
    for r in csv.DictReader(lines):
        runtime = (r.get("backend") or "").strip() or r["runtime"].strip()
        reason = (
            f"runtime {runtime} not modelled" if runtime not in RUNTIME_COSTS
            else f"model {r['model']} not built" if r["model"] not in REFERENCE_MODELS
            else f"device {r['device']} has no profile" if r["device"] not in devices
            else ""
        )  # fmt: skip
        if reason:
            skipped.append({"model": r["model"], "device": r["device"], "reason": reason})
            continue
        rows.append(
            Row(
                r["model"],
                r["device"],
                int(r["threads"]),
                r["precision"],
                float(r["latency_ms"]),
                runtime,
                r["source"],
            )
        )
    return rows, skipped


@dataclass(frozen=True)
class Case:
    """One published row with its graph and device, and the graph's per-op arrays for the fast
    predictor (macs, bytes, kind index, arithmetic index)."""

    row: Row
    graph: Graph
    device: DeviceProfile
    macs: np.ndarray
    bytes_moved: np.ndarray
    kind: np.ndarray
    arith: np.ndarray
    int8: np.ndarray

    @property
    def core_classes(self) -> set[str]:
        return {core_class(c.microarchitecture) for c in self.device.thread_cores(self.row.threads)}


KINDS = ("conv", "pointwise", "depthwise", "matmul")


def cases(rows: list[Row], devices: Registry[DeviceProfile] | None = None) -> list[Case]:
    """The rows with their graphs and devices (``devices``: the profiles, default the
    built-in ones; :func:`at_measured_bandwidth` gives the what-if of measured bandwidth)."""
    devices = devices or load_devices()
    out = []
    for r in rows:
        graph = graph_for(r.model, r.precision)
        rt = RUNTIME_COSTS.get(r.runtime)
        fp16 = fp16_storage(devices.get(r.device), r.threads, rt)
        ops = graph.ops
        out.append(
            Case(
                r,
                graph,
                devices.get(r.device),
                macs=np.array([op.macs for op in ops], dtype=float),
                bytes_moved=np.array([storage_bytes(op, rt, fp16) for op in ops], dtype=float),
                kind=np.array([KINDS.index(op.kind) if op.kind in KINDS else 0 for op in ops]),
                arith=np.array([ARITHMETIC.index(arithmetic(op, rt)) for op in ops]),
                int8=np.array([op.precision == "int8" for op in ops]),
            )
        )
    return out


def measured_share(devices: Registry[DeviceProfile]) -> float:
    """Median, over the profiles that carry both, of measured one-core copy traffic over
    theoretical bandwidth: the guess for a device without a measurement."""
    shares = [
        d.measured_bandwidth_gbps / d.bandwidth_gbps
        for d in map(devices.get, devices.names())
        if d.measured_bandwidth_gbps
    ]
    return statistics.median(shares)


def at_measured_bandwidth(devices: Registry[DeviceProfile]) -> Registry[DeviceProfile]:
    """The profiles with the bandwidth the estimator divides by set to the measured one
    (else the theoretical one times :func:`measured_share`): the what-if of
    ``benchmarks/estimator_accuracy.py --bandwidth measured``. The shipped estimator keeps the
    theoretical figure because this what-if predicts held-out rows worse (README)."""
    share = measured_share(devices)
    out: Registry[DeviceProfile] = Registry("device")
    for name in devices.names():
        d = devices.get(name)
        rate = d.measured_bandwidth_gbps or d.bandwidth_gbps * share
        out.add(name, dataclasses.replace(d, bandwidth_gbps=rate))
    return out


@dataclass(frozen=True)
class Layout:
    """Which parameters a fit has: the base ones plus a factor per core class and non-reference
    backend present in its training rows."""

    classes: tuple[str, ...]
    runtimes: tuple[str, ...]

    @classmethod
    def of(cls, train: Sequence[Case]) -> Layout:
        """A class factor per core class in ``train``; per non-reference runtime an overall and
        a depthwise factor, a spatial-conv factor where it has its own conv algorithms, and an
        int8 factor if it has int8 rows."""
        classes = sorted({k for c in train for k in c.core_classes} - {UNKNOWN_CLASS})
        runtimes = sorted({c.row.runtime for c in train} - {REFERENCE_RUNTIME})
        int8 = {c.row.runtime for c in train if c.row.precision == "int8"}
        keys = [f"{r}{part}" for r in runtimes for part in ("", ":depthwise")]
        keys += [f"{r}:conv" for r in runtimes if RUNTIME_COSTS.get(r).own_conv_algorithms]
        keys += [f"{r}:int8" for r in runtimes if r in int8]
        return cls(tuple(classes), tuple(sorted(keys)))

    @property
    def size(self) -> int:
        return len(BASE_PARAMS) + len(self.classes) + len(self.runtimes)

    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.classes) + len(self.runtimes)
        lo = [p[2] for p in BASE_PARAMS] + [FACTOR_BOUNDS[0]] * n
        hi = [p[3] for p in BASE_PARAMS] + [FACTOR_BOUNDS[1]] * n
        x0 = [p[1] for p in BASE_PARAMS] + [1.0] * n
        return np.log(lo), np.log(hi), np.log(x0)

    def params(self, x: np.ndarray, error_pct: float = 0.0) -> EstimatorParams:
        v = dict(zip([p[0] for p in BASE_PARAMS], x[: len(BASE_PARAMS)], strict=True))
        rest = list(x[len(BASE_PARAMS) :])
        return EstimatorParams(
            efficiency={
                "conv": v["eff_conv"],
                "pointwise": v["eff_pointwise"],
                "depthwise": v["eff_depthwise"],
                "matmul": v["eff_pointwise"],
            },
            core_efficiency=dict(zip(self.classes, rest[: len(self.classes)], strict=True)),
            runtime_efficiency=dict(zip(self.runtimes, rest[len(self.classes) :], strict=True)),
            int8_efficiency=v["int8_efficiency"],
            memory_efficiency=v["memory_efficiency"],
            fork_join_us_ghz=v["fork_join_us_ghz"],
            latency_error_pct=error_pct,
        )


def predict_fast(case: Case, params: EstimatorParams) -> float:
    """:func:`edgesub.profile.estimate.latency_parts`, vectorised over the graph's ops
    (the fit evaluates it thousands of times); :func:`check_fast_predictor` keeps them equal."""
    row, device = case.row, case.device
    rates = np.array([compute_rate_gops(device, a, row.threads, params) for a in ARITHMETIC])
    per_kind = [
        [params.efficiency[k] * runtime_factor(params, row.runtime, k, p) for k in KINDS]
        for p in ("fp32", "int8")
    ]
    eff = np.array(per_kind)[case.int8.astype(int), case.kind]
    eff = np.where(case.int8, eff * params.int8_efficiency, eff)
    compute = 2.0 * case.macs / (rates[case.arith] * 1e9 * eff)
    compute = np.where(case.macs > 0, compute + fork_join_seconds(device, row.threads, params), 0.0)
    memory = case.bytes_moved / (device.bandwidth_gbps * 1e9 * params.memory_efficiency)
    rt = RUNTIME_COSTS.get(row.runtime)
    overhead = (rt.op_us_ghz * len(case.macs) + rt.run_us_ghz) * 1e-6 / device.clock_ghz
    return 1e3 * float(np.sum(np.maximum(compute, memory)) + overhead)


def predict(case: Case, params: EstimatorParams) -> float:
    """The shipped estimator's own prediction for a published row."""
    row = case.row
    return latency_parts(case.graph, case.device, row.threads, params, runtime=row.runtime).total_ms


def check_fast_predictor(all_cases: Sequence[Case], params: EstimatorParams) -> float:
    """Largest relative difference between the fast predictor and the estimator (must be ~0)."""
    worst = max(abs(predict_fast(c, params) / predict(c, params) - 1.0) for c in all_cases)
    if worst > 1e-6:
        raise AssertionError(f"fast predictor differs from the estimator by {worst:.2e}")
    return worst


def fit(train: Sequence[Case]) -> EstimatorParams:
    """Least squares on log ratios, parameters searched in log space within their bounds."""
    layout = Layout.of(train)
    lo, hi, x0 = layout.bounds()
    observed = np.log([c.row.latency_ms for c in train])
    n_base = len(BASE_PARAMS)

    def residuals(z: np.ndarray) -> np.ndarray:
        params = layout.params(np.exp(z))
        fit_terms = np.log([predict_fast(c, params) for c in train]) - observed
        return np.concatenate([fit_terms, z[n_base:] / PRIOR_SIGMA])

    result = least_squares(residuals, x0, bounds=(lo, hi), x_scale=1.0, diff_step=1e-3)
    return layout.params(np.exp(result.x))


def ape(predicted: float, observed: float) -> float:
    return 100.0 * abs(predicted - observed) / observed


def held_out(all_cases: Sequence[Case], group: Callable[[Row], str]) -> list[dict]:
    """Refit without each group of rows (a row, a device, a model family) and predict them."""
    groups = sorted({group(c.row) for c in all_cases})
    out = []
    for name in groups:
        train = [c for c in all_cases if group(c.row) != name]
        params = fit(train)
        for case in (c for c in all_cases if group(c.row) == name):
            out.append(result_row(case, predict(case, params)))
    return out


def result_row(case: Case, predicted: float) -> dict:
    row = case.row
    return {
        "model": row.model,
        "device": row.device,
        "core_class": device_class(case.device),
        "threads": row.threads,
        "precision": row.precision,
        "runtime": row.runtime,
        "published_ms": row.latency_ms,
        "estimated_ms": round(predicted, 3),
        "ape_pct": round(ape(predicted, row.latency_ms), 2),
        "ratio": round(predicted / row.latency_ms, 3),
    }


HOLD_OUTS: dict[str, Callable[[Row], str]] = {
    "leave_one_device_out": lambda r: r.device,
    "leave_one_model_out": lambda r: r.family,
}


def _stats(errors: list[float], ratios: list[float]) -> dict:
    worst_ratio = max(max(ratios), 1 / min(ratios))
    return {
        "n": len(errors),
        "median_ape_pct": round(float(np.median(errors)), 2),
        "p90_ape_pct": round(float(np.percentile(errors, 90)), 2),
        "worst_ape_pct": round(float(max(errors)), 2),
        "worst_ratio": round(float(worst_ratio), 3),
    }


def summarise(results: list[dict]) -> dict:
    def by(key: str) -> dict:
        groups: dict[str, list[dict]] = {}
        for r in results:
            groups.setdefault(r[key], []).append(r)
        return {
            name: _stats([r["ape_pct"] for r in rs], [r["ratio"] for r in rs])
            for name, rs in sorted(groups.items())
        }

    return {
        **_stats([r["ape_pct"] for r in results], [r["ratio"] for r in results]),
        "per_device": by("device"),
        "per_core_class": by("core_class"),
    }
