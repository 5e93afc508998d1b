"""The measurement child process: load one artifact, time it, report JSON to a file.

Run as ``python -m edgesub.profile._child`` by :func:`edgesub.profile.measure.measure_artifact`.
A fresh process per measurement gives a clean memory high-water mark and keeps a crashing
runtime from taking the caller down. Errors users can fix are written as ``{"error": ...}``
with exit status 2; anything else dies with a traceback on stderr.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub.atomic import atomic_write_json
from edgesub.errors import EdgesubError
from edgesub.limits import parse_named_shapes
from edgesub.profile.power import PowerSensor, SensorError, detect_sensor
from edgesub.profile.runtimes import Runtime, runtime_for, synthesise_inputs
from edgesub.profile.timing import latency_stats, time_runs

if TYPE_CHECKING:
    pass

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
    input_shape = parse_named_shapes(args.input_shape or ())
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edgesub.profile._child")
    parser.add_argument("--mode", choices=("measure", "baseline"), required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--min-time-s", type=float, default=0.0)
    parser.add_argument("--input-shape", action="append")  # [NAME=]1,128, repeatable
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
