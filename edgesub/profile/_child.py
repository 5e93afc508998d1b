"""The measurement child process: load one artifact, time it, report JSON to a file.

Run as ``python -m edgesub.profile._child`` by :func:`edgesub.profile.measure.measure_artifact`.
A fresh process per measurement gives a clean memory high-water mark and keeps a crashing
runtime from taking the caller down. Errors users can fix are written as ``{"error": ...}``
with exit status 2; anything else dies with a traceback on stderr.
"""

from __future__ import annotations

import argparse
import gc
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub.atomic import atomic_write_json
from edgesub.errors import EdgesubError
from edgesub.profile.power import PowerSensor, SensorError, detect_sensor
from edgesub.profile.runtimes import Runtime, runtime_for, synthesise_inputs

if TYPE_CHECKING:
    import numpy as np

_VMHWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)


def peak_rss_kb() -> int:
    """This process's resident-set high-water mark in KiB.

    Linux: VmHWM from /proc/self/status, which belongs to the address space created by exec.
    ``ru_maxrss`` (and so ``RUSAGE_CHILDREN`` / ``wait4`` in the parent) is NOT used there: Linux
    carries the pre-exec high-water mark across ``execve``, so a child spawned by a parent with
    600 MB resident reports ≥ 600 MB even if it only imports numpy (checked on this machine).
    Elsewhere (macOS, no /proc) ru_maxrss is the best available (bytes on macOS).
    """
    try:
        match = _VMHWM.search(Path("/proc/self/status").read_text(encoding="ascii"))
    except OSError:
        match = None
    if match:
        return int(match.group(1))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss // 1024 if sys.platform == "darwin" else maxrss


# Cap on timed runs so a microsecond model under a time floor stays bounded (160 KB of timings).
MAX_RUNS = 20_000


def time_runs(
    run: Callable[[], None], warmup: int, runs: int, min_time_s: float = 0.0
) -> np.ndarray:
    """Nanoseconds per timed run, after discarded warm-up runs, with the GC paused.

    Runs continue past ``runs`` until ``min_time_s`` of timing has accumulated (up to MAX_RUNS),
    and warm-up lasts at least a tenth of that: for microsecond-scale models 50 runs are a few
    milliseconds, and one scheduler hiccup on a busy machine would move the median by 20 %.
    """
    import numpy as np

    deadline = time.perf_counter() + min_time_s / 10
    done = 0
    while done < warmup or time.perf_counter() < deadline:
        run()
        done += 1
    durations = np.zeros(max(runs, MAX_RUNS) if min_time_s > 0 else runs, dtype=np.int64)
    budget_ns = int(min_time_s * 1e9)
    spent = count = 0
    gc.disable()
    try:
        while count < runs or (spent < budget_ns and count < durations.size):
            start = time.perf_counter_ns()
            run()
            durations[count] = elapsed = time.perf_counter_ns() - start
            spent += elapsed
            count += 1
    finally:
        gc.enable()
    return durations[:count]


def latency_stats(durations_ns: np.ndarray) -> dict[str, Any]:
    import numpy as np

    ms = durations_ns.astype(np.float64) / 1e6
    return {
        "latency_ms": round(float(np.percentile(ms, 50)), 6),
        "latency_p90_ms": round(float(np.percentile(ms, 90)), 6),
        "latency_std_ms": round(float(ms.std(ddof=1)), 6) if ms.size > 1 else 0.0,
        "latency_min_ms": round(float(ms.min()), 6),
        "runs": int(ms.size),
    }


def measure_energy(sensor: PowerSensor, run: Callable[[], None], runs: int) -> dict[str, Any]:
    """Energy per inference in mJ over at least ``runs`` runs and ``sensor.min_window_s``.

    An idle window of the same minimum length comes first, so the part above idle (what the
    inference itself costs) can be reported beside the whole-board or whole-package figure.
    """
    sensor.start()
    time.sleep(sensor.min_window_s)
    idle = sensor.stop()
    count = 0
    sensor.start()
    started = time.perf_counter()
    while count < runs or time.perf_counter() - started < sensor.min_window_s:
        run()
        count += 1
    busy = sensor.stop()
    return {
        "energy_mj": busy.joules * 1000.0 / count,
        "energy_dynamic_mj": max(0.0, busy.joules - idle.watts * busy.seconds) * 1000.0 / count,
        "idle_power_w": idle.watts,
    }


def measure(args: argparse.Namespace, runtime: Runtime) -> dict[str, Any]:
    input_shape = tuple(args.input_shape) if args.input_shape else None
    session = runtime.load(args.path, args.threads)
    session.prepare(synthesise_inputs(session.inputs, input_shape, args.seed))
    durations = time_runs(session.run, args.warmup, args.runs, args.min_time_s)
    result: dict[str, Any] = {
        **latency_stats(durations),
        "threads": session.threads,
        "vmhwm_kb": peak_rss_kb(),  # before the profiling session below adds its own memory
        "energy_mj": None,
        "energy_dynamic_mj": None,
        "idle_power_w": None,
        "energy_kind": "unavailable",
        "power_sensor": None,
    }
    sensor = detect_sensor(Path(args.power_root)) if args.power_root else None
    if sensor is not None:
        result["power_sensor"] = sensor.label
        try:
            result.update(measure_energy(sensor, session.run, args.runs), energy_kind="measured")
        except SensorError as exc:  # latency and memory stand; energy is just not known
            result["energy_error"] = str(exc)
    if args.op_profile:
        profiled = runtime.load(args.path, args.threads, op_profile=True)
        profiled.prepare(synthesise_inputs(profiled.inputs, input_shape, args.seed))
        time_runs(profiled.run, args.warmup, args.runs)
        result["op_profile"] = runtime.op_profile(profiled, skip_runs=args.warmup)
    return result


def _shape(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edgesub.profile._child")
    parser.add_argument("--mode", choices=("measure", "baseline"), required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--min-time-s", type=float, default=0.0)
    parser.add_argument("--input-shape", type=_shape, default=None)
    parser.add_argument("--op-profile", action="store_true")
    parser.add_argument("--power-root", default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        runtime = runtime_for(args.path)
        name, version = runtime.import_backend()
        result = measure(args, runtime) if args.mode == "measure" else {"vmhwm_kb": peak_rss_kb()}
    except EdgesubError as exc:
        atomic_write_json(args.out, {"error": str(exc), "error_type": type(exc).__name__})
        return 2
    atomic_write_json(args.out, {**result, "runtime": name, "runtime_version": version})
    return 0


if __name__ == "__main__":
    sys.exit(main())
