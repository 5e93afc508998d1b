"""Fit the latency estimator's free parameters to published measurements (shared by the scripts).

Seven parameters, shared by every device: efficiency of spatial, 1×1 and depthwise convolutions
(matmuls share the 1×1 one: both are plain GEMMs), an int8 factor, achieved memory-bandwidth
share, a per-op dispatch cost and the Amdahl parallel fraction. Fitted by least squares on
log(estimate / published), so a 2× miss on a 5 ms model weighs as much as on a 500 ms one.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from reference_models import graph_for
from scipy.optimize import least_squares

from edgesub.profile.devices import DeviceProfile, load_devices
from edgesub.profile.estimate import EstimatorParams, estimate_latency_ms
from edgesub.profile.graph import Graph

ROOT = Path(__file__).resolve().parents[1]
CSV_CANDIDATES = [
    ROOT.parent / "shared" / "calibration" / "published_latency.csv",
    ROOT / "shared" / "calibration" / "published_latency.csv",
]

# name, initial value, lower and upper bound (physically plausible ranges)
PARAMS = [
    ("eff_conv", 0.5, 0.05, 1.0),
    ("eff_pointwise", 0.5, 0.05, 1.0),
    ("eff_depthwise", 0.2, 0.01, 1.0),
    ("int8_efficiency", 0.7, 0.1, 2.0),
    ("memory_efficiency", 0.5, 0.05, 1.0),
    # Interpreter dispatch is of order 1 µs per op on a 2 GHz core; 224-px models cannot resolve
    # it (their ops take 100s of µs), so the floor keeps tiny models from estimating ~0 ms.
    ("op_overhead_us_ghz", 20.0, 2.0, 500.0),
    ("parallel_fraction", 0.9, 0.3, 0.999),
]


@dataclass(frozen=True)
class Row:
    model: str
    device: str
    threads: int
    precision: str
    latency_ms: float
    runtime: str
    source: str


def find_csv() -> Path:
    for path in CSV_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError(f"published_latency.csv not found in {CSV_CANDIDATES}")


def read_rows(path: Path) -> list[Row]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [
        Row(
            r["model"],
            r["device"],
            int(r["threads"]),
            r["precision"],
            float(r["latency_ms"]),
            r["runtime"],
            r["source"],
        )
        for r in csv.DictReader(lines)
    ]


def to_params(x: np.ndarray, error_pct: float = 0.0) -> EstimatorParams:
    v = dict(zip([p[0] for p in PARAMS], x, strict=True))
    return EstimatorParams(
        efficiency={
            "conv": v["eff_conv"],
            "pointwise": v["eff_pointwise"],
            "depthwise": v["eff_depthwise"],
            "matmul": v["eff_pointwise"],
        },
        int8_efficiency=v["int8_efficiency"],
        memory_efficiency=v["memory_efficiency"],
        op_overhead_us_ghz=v["op_overhead_us_ghz"],
        parallel_fraction=v["parallel_fraction"],
        latency_error_pct=error_pct,
    )


Case = tuple[Row, Graph, DeviceProfile]


def cases(rows: list[Row]) -> list[Case]:
    devices = load_devices()
    return [(r, graph_for(r.model, r.precision), devices.get(r.device)) for r in rows]


def predict(case: Case, params: EstimatorParams) -> float:
    row, graph, device = case
    return estimate_latency_ms(graph, device, row.threads, params, runtime=row.runtime)


def fit(train: list[Case]) -> EstimatorParams:
    """Least squares on log ratios, parameters searched in log space within their bounds."""
    lo = np.log([p[2] for p in PARAMS])
    hi = np.log([p[3] for p in PARAMS])
    x0 = np.log([p[1] for p in PARAMS])

    def residuals(z: np.ndarray) -> np.ndarray:
        params = to_params(np.exp(z))
        return np.array([math.log(predict(c, params) / c[0].latency_ms) for c in train])

    result = least_squares(residuals, x0, bounds=(lo, hi), x_scale=1.0, diff_step=1e-3)
    return to_params(np.exp(result.x))


def ape(predicted: float, observed: float) -> float:
    return 100.0 * abs(predicted - observed) / observed


def leave_one_out(all_cases: list[Case]) -> list[dict]:
    """Refit without each published row and predict it: honest out-of-sample error."""
    out = []
    for i, case in enumerate(all_cases):
        params = fit(all_cases[:i] + all_cases[i + 1 :])
        predicted = predict(case, params)
        row = case[0]
        out.append(
            {
                "model": row.model,
                "device": row.device,
                "threads": row.threads,
                "precision": row.precision,
                "runtime": row.runtime,
                "published_ms": row.latency_ms,
                "estimated_ms": round(predicted, 3),
                "ape_pct": round(ape(predicted, row.latency_ms), 2),
                "ratio": round(predicted / row.latency_ms, 3),
            }
        )
    return out


def summarise(results: list[dict]) -> dict:
    errors = np.array([r["ape_pct"] for r in results])
    ratios = np.array([r["ratio"] for r in results])
    per_device: dict[str, list[float]] = {}
    for r in results:
        per_device.setdefault(r["device"], []).append(r["ape_pct"])
    return {
        "n": len(results),
        "median_ape_pct": round(float(np.median(errors)), 2),
        "p90_ape_pct": round(float(np.percentile(errors, 90)), 2),
        "worst_ape_pct": round(float(errors.max()), 2),
        "worst_ratio": round(float(max(ratios.max(), 1 / ratios.min())), 3),
        "per_device_median_ape_pct": {
            d: round(float(np.median(v)), 2) for d, v in sorted(per_device.items())
        },
    }
