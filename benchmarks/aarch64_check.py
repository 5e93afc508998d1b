"""The default run's Raspberry Pi bundle on an emulated aarch64 (Cortex-A72) against this host.

    sudo python benchmarks/aarch64_check.py [--run runs/default]

Without ``--run`` it makes the default run (``edgesub run`` on digits, about a minute) in a
temporary folder. It packages all four artifacts (ONNX and TFLite, fp32 and int8) with
``edgesub package --target raspberry-pi --verify-aarch64``: the bundle's own run.py on 20 seeded
inputs in a Debian bookworm arm64 userland under qemu-aarch64-static, with the bundle's pinned
aarch64 wheels, and the same run.py here. Prints a markdown table of top-1 agreement and max
|Δscore| per file and writes ``benchmarks/results/aarch64_check.json``. Emulated timings mean
nothing for a device, so none are taken. Needs root, debootstrap, qemu-user-static and proot;
the userland is cached (``$EDGESUB_AARCH64_CACHE``, else ``~/.cache/edgesub/aarch64-bookworm``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgesub.atomic import atomic_write_json
from edgesub.profile.run import host_info

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "results" / "aarch64_check.json"
FILES = tuple(f"student_{p}.{f}" for f in ("onnx", "tflite") for p in ("fp32", "int8"))


def edgesub(*args: str) -> str:
    """An edgesub command's stdout; its stderr shows as it runs."""
    command = [sys.executable, "-m", "edgesub", *args]
    return subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout


def default_run(runs: Path) -> Path:
    edgesub("run", "--runs-dir", str(runs), "--name", "default")
    return runs / "default"


def check(run: Path, out: Path) -> dict[str, Any]:
    """The bundle's summary, with the check of every file."""
    picks = [arg for name in FILES for arg in ("--artifact", name)]
    bundle = ["package", str(run), "--target", "raspberry-pi", "--out", str(out), *picks]
    return json.loads(edgesub(*bundle, "--verify-aarch64", "--json"))


def table(checks: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| file | top-1 agreement | max \\|Δscore\\| | inputs | runtime (aarch64) |",
        "|---|---|---|---|---|",
    ]
    for name, c in checks.items():
        runtime = ", ".join(f"{k} {v}" for k, v in c["runtimes"].items())
        lines.append(
            f"| `{name}` | {c['top1_agreement']:.0f} % | {c['max_abs_diff']:.1e} | "
            f"{c['samples']} | {runtime} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run directory (default: a new default run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgesub-aarch64-") as tmp:
        run = args.run or default_run(Path(tmp) / "runs")
        summary = check(run, Path(tmp) / "bundle")
    checks = summary["aarch64_check"]
    record = {
        "command": "sudo python benchmarks/aarch64_check.py"
        + (f" --run {args.run}" if args.run else ""),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "host": host_info().to_dict(),
        "checks": checks,
    }
    atomic_write_json(OUTPUT, record)
    print(table(checks))
    print(f"\nwrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
