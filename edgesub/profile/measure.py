"""Measure an .onnx or .tflite artifact on this machine: latency, peak memory, energy.

Each measurement runs in a fresh child process (``python -m edgesub.profile._child``) so that
its memory high-water mark belongs to the model alone and a crashing runtime cannot take the
caller down. Peak memory is that child's high-water mark minus the high-water mark of the same
child importing the runtime but loading no model (the "runtime-only baseline"), in MiB.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import edgesub
from edgesub.errors import ConfigError, EdgesubError, MissingDependencyError, ModelFileError
from edgesub.limits import MAX_RUNS, MAX_THREADS, check_count, check_model_file, check_values
from edgesub.profile.graph import ShapeOverride, named_shapes, shape_flags
from edgesub.profile.runtimes import InputShapeError, runtime_for

# Errors the child reports by class name, re-raised here as the same class.
_CHILD_ERRORS: dict[str, type[EdgesubError]] = {
    cls.__name__: cls
    for cls in (EdgesubError, ModelFileError, InputShapeError, MissingDependencyError, ConfigError)
}

DEFAULT_TIMEOUT_S = 600.0


def child_error(type_name: str, message: str) -> EdgesubError:
    """The error a measuring process reported by class name, as that class again."""
    return _CHILD_ERRORS.get(type_name, EdgesubError)(message)


def measure_artifact(
    path: Path,
    *,
    threads: int = 1,
    warmup: int = 10,
    runs: int = 50,
    min_time_s: float = 1.0,
    input_shape: ShapeOverride = None,
    op_profile: bool = False,
    power_root: Path | None = Path("/"),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    seed: int = 0,
) -> dict[str, Any]:
    """Latency (p50/p90/std/min ms), peak memory (MiB) and energy (mJ, when sensors exist).

    Timing runs ``warmup`` discarded runs, then at least ``runs`` timed runs and keeps going
    until ``min_time_s`` of timing has accumulated (``runs`` in the result is the actual count),
    which keeps the p50 of microsecond models steady run to run. ``input_shape`` fills dynamic
    input dimensions (one shape, or input name → shape); ``op_profile`` adds ONNX Runtime
    kernel time per op type (ms per inference); ``power_root`` is where power sensors are
    probed (None: don't).
    """
    path = Path(path)
    _check_arguments(path, threads, warmup, runs, min_time_s, input_shape)
    fmt = path.suffix.lstrip(".").lower()
    if op_profile and fmt != "onnx":
        raise EdgesubError(
            f"per-op profiling is only available for .onnx artifacts, not {path.name}"
        )
    options = [
        f"--threads={threads}",
        f"--warmup={warmup}",
        f"--runs={runs}",
        f"--min-time-s={min_time_s}",
        f"--seed={seed}",
    ]
    options += shape_flags(input_shape)
    if op_profile:
        options.append("--op-profile")
    if power_root is not None:
        options.append(f"--power-root={power_root}")
    result = _run_child("measure", path, options, timeout_s)
    baseline_kb = _baseline_kb(fmt, timeout_s)
    peak_kb = result.pop("vmhwm_kb")
    # A tiny model can sit within the baseline's own page-level noise; memory is never negative.
    result["peak_memory_mb"] = round(max(0, peak_kb - baseline_kb) / 1024.0, 3)
    result["memory_kind"] = "measured"
    result["latency_kind"] = "measured"
    return result


def _check_arguments(
    path: Path,
    threads: int,
    warmup: int,
    runs: int,
    min_time_s: float,
    input_shape: ShapeOverride,
) -> None:
    check_count(threads, "threads", 1, MAX_THREADS)
    check_count(runs, "runs", 1, MAX_RUNS)
    check_count(warmup, "warmup", 0, MAX_RUNS)
    if min_time_s < 0:
        raise ConfigError(f"min_time_s must be >= 0, got {min_time_s}")
    for dims in named_shapes(input_shape).values():
        if any(d < 1 for d in dims):
            raise ConfigError(f"--input-shape dims must be positive, got {list(dims)}")
        check_values(dims, "--input-shape")
    runtime_for(path)  # rejects unsupported extensions before starting a process
    check_model_file(path)


@functools.lru_cache(maxsize=8)
def _baseline_kb(fmt: str, timeout_s: float) -> int:
    """High-water mark of a child that imports the runtime for ``fmt`` and loads nothing."""
    return _run_child("baseline", Path(f"baseline.{fmt}"), [], timeout_s)["vmhwm_kb"]


def _child_env() -> dict[str, str]:
    """The caller's environment, with this edgesub importable even from an uninstalled checkout."""
    env = dict(os.environ)
    package_root = str(Path(edgesub.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def _run_child(mode: str, path: Path, options: list[str], timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgesub-measure-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [
            sys.executable,
            "-m",
            "edgesub.profile._child",
            f"--mode={mode}",
            f"--path={path}",
            f"--out={out}",
            *options,
        ]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, env=_child_env()
            )
        except subprocess.TimeoutExpired as exc:
            raise EdgesubError(
                f"measuring {path.name} timed out after {timeout_s:g} s{_last_line(exc.stderr)}"
            ) from None
        if out.is_file():
            report = json.loads(out.read_text(encoding="utf-8"))
            if "error" in report:
                raise child_error(report["error_type"], report["error"])
            if proc.returncode == 0:
                return report
        raise EdgesubError(
            f"measuring {path.name} failed ({_exit_reason(proc.returncode)})"
            f"{_last_line(proc.stderr)}"
        )


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _last_line(stderr: str | bytes | None) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", errors="replace")
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    return f": {lines[-1]}" if lines else ""
