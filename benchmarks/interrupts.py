"""How fast Ctrl-C stops each stage of a run, and what exporting TFLite in a worker costs.

1. Starts ``edgesub run --fast`` (resuming one run folder), sends SIGINT half a second (and,
   for convert, 3 s: inside a TFLite export) into each stage, and records the seconds until the
   process exits with 130. Target (issue 17): within a second or two.
2. Converts the run's student side by side with the TFLite exports in the worker process
   (the default) and in-process, alternating, and reports the median wall time of each.

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
    """Median convert wall time with TFLite exported in the worker and in this process."""
    from edgesub.converters.formats import CONVERTERS
    from edgesub.pipeline import open_run, stage_convert, stage_data

    run, cfg = open_run(run_dir)
    data = stage_data(cfg)
    tflite = CONVERTERS.get("tflite")
    times: dict[str, list[float]] = {"worker": [], "in_process": []}
    for _ in range(repeats):
        for mode in times:
            object.__setattr__(tflite, "isolated", mode == "worker")
            start = time.perf_counter()
            stage_convert(run, data, cfg, progress=False)
            times[mode].append(time.perf_counter() - start)
    object.__setattr__(tflite, "isolated", True)
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
        "median convert wall time (s), TFLite exported in the worker vs in-process (in one "
        "process, so in-process reuses litert-torch once imported: a fresh CLI process would "
        "import it too, about 4 s here)",
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
