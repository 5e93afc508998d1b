"""Fit the latency estimator on published measurements and ship the result as package data.

    python benchmarks/calibrate_estimator.py [--csv published_latency.csv]

Writes ``edgesub/profile/calibration.json``: the fitted parameters (fitted on every published
row) and ``latency_error_pct``, the 90th percentile of the leave-one-out absolute percentage
error, which every estimate reports as its expected error band.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from estimator_fit import ROOT, cases, find_csv, fit, leave_one_out, read_rows, summarise

from edgesub.atomic import atomic_write_json

OUTPUT = ROOT / "edgesub" / "profile" / "calibration.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    csv_path = args.csv or find_csv()
    all_cases = cases(read_rows(csv_path))
    params = fit(all_cases)
    summary = summarise(leave_one_out(all_cases))
    atomic_write_json(
        OUTPUT,
        {
            "schema_version": 1,
            "produced_by": "benchmarks/calibrate_estimator.py",
            "data": csv_path.name,
            "rows": len(all_cases),
            "params": {k: _round(v) for k, v in params.to_dict().items()},
            "latency_error_pct": float(math.ceil(summary["p90_ape_pct"])),
            "leave_one_out": summary,
        },
    )
    print(f"wrote {OUTPUT}: {summary}")


def _round(value: float | dict) -> float | dict:
    if isinstance(value, dict):
        return {k: round(float(v), 5) for k, v in value.items()}
    return round(float(value), 5)


if __name__ == "__main__":
    main()
