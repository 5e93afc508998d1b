"""How well does the latency estimator predict published device measurements it has not seen?

    python benchmarks/estimator_accuracy.py [--csv published_latency.csv]

For every published row, refit the estimator without it and predict it (leave-one-out). Writes
``benchmarks/results/estimator_accuracy.json`` (median and worst APE, per device, per row) and
also the in-sample fit of the shipped calibration for comparison.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator_fit import ROOT, ape, cases, find_csv, leave_one_out, predict, read_rows, summarise

from edgesub.atomic import atomic_write_json
from edgesub.profile.estimate import load_params

OUTPUT = ROOT / "benchmarks" / "results" / "estimator_accuracy.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    csv_path = args.csv or find_csv()
    all_cases = cases(read_rows(csv_path))
    loo = leave_one_out(all_cases)
    shipped = load_params()
    in_sample = [
        {
            "model": c[0].model,
            "device": c[0].device,
            "published_ms": c[0].latency_ms,
            "estimated_ms": round(predict(c, shipped), 3),
            "ape_pct": round(ape(predict(c, shipped), c[0].latency_ms), 2),
            "ratio": round(predict(c, shipped) / c[0].latency_ms, 3),
        }
        for c in all_cases
    ]
    result = {
        "data": csv_path.name,
        "method": "leave-one-out: refit the 7 shared parameters without the row, predict it",
        "leave_one_out": {"summary": summarise(loo), "rows": loo},
        "in_sample_shipped_calibration": {"summary": summarise(in_sample), "rows": in_sample},
    }
    atomic_write_json(OUTPUT, result)
    summary = result["leave_one_out"]["summary"]
    print(
        f"leave-one-out over {summary['n']} published rows: median APE "
        f"{summary['median_ape_pct']} %, p90 {summary['p90_ape_pct']} %, worst "
        f"{summary['worst_ape_pct']} % (ratio {summary['worst_ratio']}×)"
    )
    for device, err in summary["per_device_median_ape_pct"].items():
        print(f"  {device:24s} median APE {err:6.1f} %")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
