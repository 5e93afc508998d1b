"""How fast Ctrl-C stops each stage of a run, and what exporting TFLite in a worker costs.

1. Starts ``edgesub run --fast`` (resuming one run folder), sends SIGINT half a second (and,
   for convert, 3 s: inside a TFLite export) into each stage, and records the seconds until the
   process exits with 130. Target (issue 17): within a second or two.
2. Times ``edgesub convert RUN_DIR`` side by side, alternating, with the TFLite exports in
   the worker process (the default) and in-process (``convert.export_worker=false``), and
   reports the median wall time of each.

Writes benchmarks/results/interrupts.json.

    python benchmarks/interrupts.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgesub.atomic import atomic_write_json

RESULTS = Path(__file__).parent / "results" / "interrupts.json"
STAGES = ["data", "teacher", "subspace", "distill", "convert", "profile", "report"]
TARGET_S = 2.0


def _edgesub(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "edgesub", *args, "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_seconds(run_dir: Path, stage: str, delay: float) -> float:
    """Seconds from SIGINT, ``delay`` s into ``stage``, to the exit (which must be 130)."""
    process = _edgesub("run", "--resume", str(run_dir))
    for line in process.stderr:
        if line.startswith(f"▶ {stage}"):
            break
    time.sleep(delay)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    if process.returncode != 130:
        raise SystemExit(f"{stage}: exit code {process.returncode}, expected 130")
    return round(time.monotonic() - sent, 2)


def convert_seconds(run_dir: Path, repeats: int) -> dict[str, float]:
    """Median wall time of ``edgesub convert RUN_DIR``, each a fresh process, with TFLite
    exported in the worker (the default) and in-process, alternating."""
    modes = {"worker": "true", "in_process": "false"}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(repeats):
        for mode, value in modes.items():
            command = [sys.executable, "-m", "edgesub", "convert", str(run_dir), "--no-progress"]
            command += ["--set", f"convert.export_worker={value}"]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[mode].append(time.perf_counter() - start)
    return {mode: round(statistics.median(t), 2) for mode, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "runs" / "bench"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "edgesub",
                "run",
                "--fast",
                "--runs-dir",
                str(run_dir.parent),
                "--name",
                "bench",
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        stops = {stage: interrupt_seconds(run_dir, stage, 0.5) for stage in STAGES}
        stops["convert (3 s in: a TFLite export)"] = interrupt_seconds(run_dir, "convert", 3.0)
        convert = convert_seconds(run_dir, args.repeats)
    result = {
        "what": "seconds from SIGINT to exit 130 per stage of `edgesub run --fast --resume`; "
        "median wall time (s) of `edgesub convert RUN_DIR` (fresh processes), TFLite "
        "exported in the worker vs in-process (convert.export_worker=false)",
        "measured": True,
        "target_seconds": TARGET_S,
        "sigint_to_exit_seconds": stops,
        "worst_seconds": max(stops.values()),
        "convert_seconds": convert,
        "worker_cost_ratio": round(convert["worker"] / convert["in_process"], 2),
        "repeats": args.repeats,
        "host": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    atomic_write_json(RESULTS, result)
    for stage, seconds in stops.items():
        print(f"Ctrl-C in {stage:<34} exit after {seconds:.2f} s")
    print(
        f"convert: worker {convert['worker']} s, in-process {convert['in_process']} s "
        f"(×{result['worker_cost_ratio']})"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
