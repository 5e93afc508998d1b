"""How well does the latency estimator predict published device measurements it has not seen?

    python benchmarks/estimator_accuracy.py [--csv FILE] [--leave-one-row-out]
        [--bandwidth theoretical|measured]

Held-out errors over the published table (benchmarks/calibration/published_latency.csv):
leave-one-device-out (refit without every row of a device, predict them: the case of a user
whose device the calibration never saw), leave-one-model-out (a model family's rows out
together) and, with the flag, leave-one-row-out. Each is reported
overall, per device and per core class, with the in-sample fit of the shipped calibration for
comparison. Writes ``benchmarks/results/estimator_accuracy.json``. ``--bandwidth measured``
refits and evaluates the what-if of memory-bound ops against the profiles' measured bandwidth
(:func:`estimator_fit.at_measured_bandwidth`; in-sample: that fit, not the shipped one) and
writes ``estimator_accuracy_measured_bandwidth.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from estimator_fit import (
    HOLD_OUTS,
    ROOT,
    at_measured_bandwidth,
    cases,
    check_fast_predictor,
    find_csv,
    fit,
    held_out,
    predict,
    read_rows,
    result_row,
    summarise,
)

from edgesub.atomic import atomic_write_json
from edgesub.profile.devices import load_devices
from edgesub.profile.estimate import load_params

RESULTS = ROOT / "benchmarks" / "results"
OUTPUTS = {
    "theoretical": RESULTS / "estimator_accuracy.json",
    "measured": RESULTS / "estimator_accuracy_measured_bandwidth.json",
}
IN_SAMPLE_KEYS = {  # the measured what-if has no shipped calibration: its own full fit
    "theoretical": "in_sample_shipped_calibration",
    "measured": "in_sample_measured_bandwidth_fit",
}
TARGET = {"median_ape_pct": 20.0, "worst_ratio": 2.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument(
        "--leave-one-row-out",
        action="store_true",
        help="also refit once per row (slow: one fit per published row)",
    )
    parser.add_argument(
        "--bandwidth",
        choices=sorted(OUTPUTS),
        default="theoretical",
        help="DRAM bandwidth of memory-bound ops: the profiles' theoretical figure (shipped) "
        "or the measured one (what-if)",
    )
    args = parser.parse_args()
    csv_path = args.csv or find_csv()
    rows, skipped = read_rows(csv_path)
    measured = args.bandwidth == "measured"
    all_cases = cases(rows, at_measured_bandwidth(load_devices()) if measured else None)
    shipped = fit(all_cases) if measured else load_params()
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
        "bandwidth": args.bandwidth,
        "method": (
            "refit every parameter without the held-out rows (one row, one device, or one model "
            "family), then predict them with edgesub's estimator"
        ),
        **results,
        IN_SAMPLE_KEYS[args.bandwidth]: {"summary": summarise(in_sample), "rows": in_sample},
        "seconds": round(time.perf_counter() - started, 1),
    }
    output = OUTPUTS[args.bandwidth]
    atomic_write_json(output, result)
    lodo = results["leave_one_device_out"]["summary"]
    for cls, s in lodo["per_core_class"].items():
        print(
            f"  LODO {cls:10s} n={s['n']:3d}  median {s['median_ape_pct']:6.1f} %  "
            f"p90 {s['p90_ape_pct']:6.1f} %  worst {s['worst_ratio']:.2f}×"
        )
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
