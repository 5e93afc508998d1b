"""Fit the latency estimator on published measurements and ship the result as package data.

    python benchmarks/calibrate_estimator.py [--csv benchmarks/calibration/published_latency.csv]

Writes ``edgesub/profile/calibration.json``: the parameters fitted on every usable published
row, and the error bands estimates carry: per core class, the 90th percentile of the
leave-one-device-out absolute percentage error of that class's devices (rounded up to 5 %;
the overall figure for a class with fewer than 3 rows), since a user's device is usually one the
calibration never saw.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

import numpy as np
from estimator_fit import (
    HOLD_OUTS,
    ROOT,
    Layout,
    cases,
    check_fast_predictor,
    find_csv,
    fit,
    held_out,
    read_rows,
    summarise,
)

from edgesub.atomic import atomic_write_json
from edgesub.profile.estimate import SCHEMA_VERSION

OUTPUT = ROOT / "edgesub" / "profile" / "calibration.json"
MIN_CLASS_ROWS = 3


def band(errors: list[float]) -> float:
    return float(5 * math.ceil(np.percentile(errors, 90) / 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    csv_path = args.csv or find_csv()
    rows, _ = read_rows(csv_path)
    all_cases = cases(rows)
    params = fit(all_cases)
    check_fast_predictor(all_cases, params)
    lodo = held_out(all_cases, HOLD_OUTS["leave_one_device_out"])
    overall = band([r["ape_pct"] for r in lodo])
    per_class: dict[str, list[float]] = {}
    for r in lodo:
        per_class.setdefault(r["core_class"], []).append(r["ape_pct"])
    bands = {k: band(v) if len(v) >= MIN_CLASS_ROWS else overall for k, v in per_class.items()}
    atomic_write_json(
        OUTPUT,
        {
            "schema_version": SCHEMA_VERSION,
            "produced_by": "benchmarks/calibrate_estimator.py",
            "data": csv_path.name,
            "data_sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
            "rows": len(all_cases),
            "free_parameters": Layout.of(all_cases).size,
            "params": _rounded(params.to_dict()),
            "latency_error_pct": overall,
            "error_band_pct": dict(sorted(bands.items())),
            "leave_one_device_out": summarise(lodo),
        },
    )
    print(f"wrote {OUTPUT}: bands {bands}, overall ±{overall} %")


def _rounded(value: float | dict) -> float | dict:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(float(value), 5)


if __name__ == "__main__":
    main()
