"""The program ``edgesub profile --remote`` runs ON the device: identity, then each measurement.

Run as ``python -m edgesub.profile._device --out-json ... FILE...`` from a zip of edgesub's own
modules (:mod:`edgesub.profile.remote` ships it), so the device measures with exactly the code
this machine would, needing only Python >= 3.11, numpy and the runtimes — not torch, not even
click or rich. It prints one JSON object on stdout: the device's identity and, per file, the
measurement of :func:`edgesub.profile.measure.measure_artifact` (or the one-line error), with
the temperature just before and after it.

While it runs it watches its stdin: ssh closes it when the connection drops (Ctrl-C on the
user's machine), and the whole remote process group is then ended rather than left measuring.
It also writes that group's id where the cleanup looks, so the cleanup can end it for certain
before it removes the folder (the two would otherwise race).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from edgesub.errors import EdgesubError
from edgesub.limits import parse_named_shapes
from edgesub.profile.power import run_command

# Arm's main-ID part numbers (/proc/cpuinfo "CPU part", implementer 0x41) as core names.
ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd0d": "Cortex-A77",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd42": "Cortex-A78AE",
    "0xd44": "Cortex-X1",
    "0xd46": "Cortex-A510",
    "0xd47": "Cortex-A710",
    "0xd48": "Cortex-X2",
    "0xd49": "Neoverse-N2",
    "0xd4b": "Cortex-A78C",
    "0xd4d": "Cortex-A715",
    "0xd4e": "Cortex-X3",
}
# Where the kernel tells; tests point these at a fixture tree.
PROC = Path("/proc")
CPU = Path("/sys/devices/system/cpu")
THERMAL = Path("/sys/class/thermal")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip("\x00\n ")
    except OSError:
        return None


def _cpuinfo_values(key: str) -> list[str]:
    """Every ``key : value`` of /proc/cpuinfo, in order (one per core for per-core keys)."""
    text = _read(PROC / "cpuinfo") or ""
    pattern = re.compile(rf"^{re.escape(key)}\s*:\s*(.+)$", re.MULTILINE)
    return [value.strip() for value in pattern.findall(text)]


def model_string() -> str:
    """The board's name (device tree), else the CPU's (cpuinfo ``Model``/``model name``)."""
    for value in (
        _read(PROC / "device-tree" / "model"),
        *_cpuinfo_values("Model"),
        *_cpuinfo_values("model name"),
        *_cpuinfo_values("Hardware"),
    ):
        if value:
            return value
    return platform.machine()


def core_types() -> list[str]:
    """Distinct core designs, fastest cluster last as the kernel lists them: Arm part numbers
    by name (an unknown one as its hex), else the x86 ``model name``."""
    parts = [ARM_PARTS.get(p.lower(), f"part {p}") for p in _cpuinfo_values("CPU part")]
    return list(dict.fromkeys(parts or _cpuinfo_values("model name")))


def temperature_c() -> float | None:
    """The hottest thermal zone, °C (the SoC's on a Pi or Jetson), or None without any."""
    readings = [_read(zone / "temp") for zone in sorted(THERMAL.glob("thermal_zone*"))]
    values = [int(r) / 1000.0 for r in readings if r and r.lstrip("-").isdigit()]
    return max(values) if values else None


def throttled() -> str | None:
    """``vcgencmd get_throttled`` (a Raspberry Pi's under-voltage / throttling bits), or None."""
    try:
        text = run_command(["vcgencmd", "get_throttled"]).strip()
    except (OSError, subprocess.SubprocessError):  # absent or failing: no Pi firmware tools
        return None
    return text.partition("=")[2] or text or None


def ram_mb() -> float | None:
    match = re.search(r"^MemTotal:\s+(\d+) kB", _read(PROC / "meminfo") or "", re.MULTILINE)
    return round(int(match.group(1)) / 1024.0, 1) if match else None


def identity() -> dict[str, Any]:
    """What the device says it is, and how its clocks are set now."""
    clock = _read(CPU / "cpu0/cpufreq/scaling_cur_freq")
    return {
        "machine": platform.machine(),
        "model": model_string(),
        "core_types": core_types(),
        "cores": os.cpu_count(),
        "ram_mb": ram_mb(),
        "governor": _read(CPU / "cpu0/cpufreq/scaling_governor"),
        "clock_mhz": round(int(clock) / 1000.0, 1) if clock and clock.isdigit() else None,
        "throttled": throttled(),
        "python": platform.python_version(),
    }


def _measure_one(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    from edgesub.profile.measure import measure_artifact

    before = temperature_c()
    try:
        result: dict[str, Any] = {"measurement": measure_artifact(path, **settings)}
    except EdgesubError as exc:
        result = {"error": str(exc), "error_type": type(exc).__name__}
    return {**result, "temperature_before_c": before, "temperature_after_c": temperature_c()}


def _end_group_on_hangup() -> None:
    """End this process group once stdin closes: the ssh connection is gone."""

    def watch() -> None:
        while os.read(0, 4096):  # the raw fd: a buffered reader would hang interpreter exit
            pass
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edgesub.profile._device")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--input-shape", action="append")  # [NAME=]1,128, repeatable
    parser.add_argument("--watch-stdin", action="store_true")
    parser.add_argument("--pgid-file", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.pgid_file is not None:  # whoever removes the folder ends the measurement first
        args.pgid_file.write_text(f"{os.getpgrp()}\n", encoding="ascii")
    if args.watch_stdin:
        _end_group_on_hangup()
    settings = {
        "threads": args.threads,
        "warmup": args.warmup,
        "runs": args.runs,
        "input_shape": parse_named_shapes(args.input_shape or ()),
    }
    report = {
        "identity": identity(),
        "files": {str(path): _measure_one(path, settings) for path in args.files},
    }
    if args.pgid_file is not None:  # ended: nothing for the cleanup to end (the id may be reused)
        args.pgid_file.unlink(missing_ok=True)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
