"""How well does edgesub's energy estimate match published, measured power during inference?

    python benchmarks/energy_accuracy.py [--csv FILE]

Each row of ``benchmarks/calibration/published_energy.csv`` is a CPU inference on a board with
a device profile, with the latency and the power the source measured (cited per row; none of
them was used to set a profile's watts, and MLPerf power logs and DeepEdgeBench are kept out
for an independent check). Two figures per row:

- ``power model``: energy per inference from the profile's power model over the *measured*
  latency, split as the estimator splits the graph (compute-bound time at the HPL-type power,
  the rest at the stress-type power; measured time beyond the estimate, e.g. a Python loop
  around the call, counts as light one-thread work). This isolates the power model.
- ``full estimate``: estimated latency × estimated power, what a user gets before owning the
  board; its error compounds the latency estimate's (rows without a graph have none).

Rows marked ``memory-bound`` (LLM token generation) have no graph edgesub can rebuild; their
time is charged at the stress-type power. Writes ``benchmarks/results/energy_accuracy.json``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from dataclasses import dataclass, fields
from pathlib import Path

from edgesub.atomic import atomic_write_json
from edgesub.profile.devices import DeviceProfile, get_device
from edgesub.profile.energy import estimate_energy
from edgesub.profile.estimate import LatencyParts, latency_parts

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "benchmarks" / "calibration" / "published_energy.csv"
OUTPUT = ROOT / "benchmarks" / "results" / "energy_accuracy.json"
TARGET_MEDIAN_PCT = 30.0


@dataclass(frozen=True)
class Row:
    device: str
    board: str
    model: str
    reference: str
    workload: str
    runtime: str
    precision: str
    threads: int
    latency_ms: float
    power_w: float
    power_kind: str
    source_url: str

    @property
    def measured_mj(self) -> float:
        return self.power_w * self.latency_ms


def read_rows(path: Path) -> list[Row]:
    """The table's rows, each column converted to the type :class:`Row` declares."""
    types = {f.name: {"int": int, "float": float}.get(str(f.type), str) for f in fields(Row)}
    with path.open(newline="", encoding="utf-8") as handle:
        return [Row(**{k: t(r[k]) for k, t in types.items()}) for r in csv.DictReader(handle)]


def estimated_parts(row: Row, device: DeviceProfile) -> LatencyParts | None:
    """The estimator's split of one inference of the row's graph, or None without a graph."""
    if row.workload != "graph":
        return None
    from reference_models import graph_for  # torch: only for rows with a graph

    graph = graph_for(row.reference, row.precision)
    return latency_parts(graph, device, row.threads, runtime=row.runtime)


def at_measured_latency(parts: LatencyParts | None, latency_ms: float) -> LatencyParts:
    """The estimate's split stretched to the measured time: what the kernels take stays, the
    rest of the measured time is light work (the caller's loop); an estimate longer than the
    measurement is scaled down whole. Without a graph, all of it is memory-bound."""
    seconds = latency_ms / 1e3
    if parts is None:
        return LatencyParts(memory_s=seconds)
    estimated = parts.total_ms / 1e3
    if estimated >= seconds:
        k = seconds / estimated
        return LatencyParts(parts.compute_s * k, parts.memory_s * k, parts.overhead_s * k)
    return LatencyParts(parts.compute_s, parts.memory_s, parts.overhead_s + seconds - estimated)


def signed_pct(estimate: float, measured: float) -> float:
    return 100.0 * (estimate - measured) / measured


def evaluate(row: Row) -> dict:
    device = get_device(row.device)
    parts = estimated_parts(row, device)
    model = estimate_energy(device, row.threads, at_measured_latency(parts, row.latency_ms))
    result = {
        "device": row.device, "board": row.board, "model": row.model, "runtime": row.runtime,
        "threads": row.threads, "measured_latency_ms": row.latency_ms,
        "measured_power_w": row.power_w, "power_kind": row.power_kind,
        "measured_energy_mj": round(row.measured_mj, 3),
        "power_model_energy_mj": round(model.energy_mj, 3),
        "power_model_power_w": round(model.power_w, 3),
        "power_model_error_pct": round(signed_pct(model.energy_mj, row.measured_mj), 2),
        "source": row.source_url,
    }  # fmt: skip
    if parts is not None:
        full = estimate_energy(device, row.threads, parts)
        result |= {
            "estimated_latency_ms": round(parts.total_ms, 3),
            "full_estimate_energy_mj": round(full.energy_mj, 3),
            "full_estimate_error_pct": round(signed_pct(full.energy_mj, row.measured_mj), 2),
        }
    return result


def summarise(results: list[dict], key: str) -> dict:
    errors = [abs(r[key]) for r in results if key in r]
    if not errors:
        return {}
    return {
        "rows": len(errors),
        "median_abs_pct": round(statistics.median(errors), 2),
        "max_abs_pct": round(max(errors), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=CSV)
    args = parser.parse_args()
    results = [evaluate(row) for row in read_rows(args.csv)]
    devices = list(dict.fromkeys(r["device"] for r in results))
    summary = {
        key: {
            "overall": summarise(results, key),
            "per_device": {
                d: summarise([r for r in results if r["device"] == d], key) for d in devices
            },
        }
        for key in ("power_model_error_pct", "full_estimate_error_pct")
    }
    print(f"{'device':22} {'model':16} {'meas. mJ':>10} {'model mJ':>10} {'err %':>7} "
          f"{'full mJ':>10} {'err %':>7}")  # fmt: skip
    for r in results:
        full = r.get("full_estimate_energy_mj", float("nan"))
        full_err = r.get("full_estimate_error_pct", float("nan"))
        print(f"{r['device']:22} {r['model']:16} {r['measured_energy_mj']:10.1f} "
              f"{r['power_model_energy_mj']:10.1f} {r['power_model_error_pct']:7.1f} "
              f"{full:10.1f} {full_err:7.1f}")  # fmt: skip
    for key, stats in summary.items():
        print(f"{key}: overall {stats['overall']}")
        for device, figures in stats["per_device"].items():
            print(f"  {device}: {figures}")
    atomic_write_json(
        OUTPUT,
        {
            "csv": str(args.csv.relative_to(ROOT))
            if args.csv.is_relative_to(ROOT)
            else str(args.csv),
            "target_median_abs_pct": TARGET_MEDIAN_PCT,
            "summary": summary,
            "rows": results,
        },
    )
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
