"""How well does the latency estimator predict published device measurements it has not seen?

    python benchmarks/estimator_accuracy.py [--csv FILE] [--leave-one-row-out]

Held-out errors over the published table (benchmarks/calibration/published_latency.csv):
leave-one-device-out (refit without every row of a device, predict them: the case of a user
whose device the calibration never saw), leave-one-model-out (a model family's rows out
together) and, with the flag, leave-one-row-out. Each is reported
overall, per device and per core class, with the in-sample fit of the shipped calibration for
comparison. Writes ``benchmarks/results/estimator_accuracy.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from estimator_fit import (
    HOLD_OUTS,
    ROOT,
    cases,
    check_fast_predictor,
    find_csv,
    held_out,
    predict,
    read_rows,
    result_row,
    summarise,
)

from edgesub.atomic import atomic_write_json
from edgesub.profile.estimate import load_params

OUTPUT = ROOT / "benchmarks" / "results" / "estimator_accuracy.json"
TARGET = {"median_ape_pct": 20.0, "worst_ratio": 2.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument(
        "--leave-one-row-out",
        action="store_true",
        help="also refit once per row (slow: one fit per published row)",
    )
    args = parser.parse_args()
    csv_path = args.csv or find_csv()
    rows, skipped = read_rows(csv_path)
    all_cases = cases(rows)
    shipped = load_params()
    check_fast_predictor(all_cases, shipped)
    started = time.perf_counter()
    holdouts = dict(HOLD_OUTS)
    if args.leave_one_row_out:
        holdouts["leave_one_row_out"] = lambda r: f"{r.model}|{r.device}|{r.threads}|{r.precision}"
    results = {}
    for name, group in holdouts.items():
        rows_out = held_out(all_cases, group)
        results[name] = {"summary": summarise(rows_out), "rows": rows_out}
        s = results[name]["summary"]
        print(
            f"{name:22s} n={s['n']:3d}  median APE {s['median_ape_pct']:6.1f} %  "
            f"p90 {s['p90_ape_pct']:6.1f} %  worst {s['worst_ratio']:.2f}×"
        )
    in_sample = [result_row(c, predict(c, shipped)) for c in all_cases]
    result = {
        "data": str(csv_path.relative_to(ROOT) if csv_path.is_relative_to(ROOT) else csv_path),
        "data_sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
        "rows_used": len(all_cases),
        "rows_skipped": skipped,
        "target": TARGET,
        "method": (
            "refit every parameter without the held-out rows (one row, one device, or one model "
            "family), then predict them with edgesub's estimator"
        ),
        **results,
        "in_sample_shipped_calibration": {"summary": summarise(in_sample), "rows": in_sample},
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(OUTPUT, result)
    lodo = results["leave_one_device_out"]["summary"]
    for cls, s in lodo["per_core_class"].items():
        print(
            f"  LODO {cls:10s} n={s['n']:3d}  median {s['median_ape_pct']:6.1f} %  "
            f"p90 {s['p90_ape_pct']:6.1f} %  worst {s['worst_ratio']:.2f}×"
        )
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
