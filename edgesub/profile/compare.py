"""Energy budgets and Pareto fronts over profile records: which artifact fits which device.

A user's question is rarely "how fast" but "which variant can I ship": it must fit the device's
RAM, answer within a latency limit, stay under an energy budget per inference, or keep a
battery-powered device running long enough at the rate the application needs. The power model
is the one the records were estimated with (docs/run-directory.md): ``energy_mj`` is the whole
device over one inference, ``energy_dynamic_mj`` the part above idle, so idle power is
``(energy_mj - energy_dynamic_mj) / latency_ms`` and nothing else has to be looked up.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgesub.atomic import atomic_write_json
from edgesub.errors import ConfigError
from edgesub.profile.devices import ALL_DEVICES

SCHEMA_VERSION = 1
COMPARE_FILE = "compare.json"


@dataclass(frozen=True)
class Budget:
    """Limits a deployment must meet; every unset limit is simply not checked.

    ``rate_hz`` is the inference rate the application needs: it turns energy per inference
    into average power (``average_power_mw``) and, with ``battery_wh``, into hours of battery.
    ``include_idle`` says whether the device's idle power between (and during) inferences
    counts, which is the realistic figure for a device that runs only this model; without it
    the figures are the model's own share of the battery.
    """

    energy_mj: float | None = None
    max_latency_ms: float | None = None
    rate_hz: float | None = None
    max_power_mw: float | None = None
    battery_wh: float | None = None
    min_hours: float | None = None
    include_idle: bool = True

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name != "include_idle" and value is not None and not value > 0:
                raise ConfigError(f"budget {name} must be > 0, got {value!r}")
        if self.rate_hz is None and (self.max_power_mw or self.battery_wh):
            raise ConfigError("average power and battery hours need a rate: pass --rate HZ")
        if self.min_hours is not None and self.battery_wh is None:
            raise ConfigError("--min-hours needs a battery: pass --battery-wh or --battery-mah")

    def assumptions(self) -> list[str]:
        """Plain sentences saying how the figures were derived, shown beside every result."""
        notes = [
            "energy per inference is the device's power at the used thread count × latency "
            "(estimated from the device profile unless measured)",
        ]
        if self.energy_mj is not None:
            part = "total (idle included)" if self.include_idle else "dynamic (above idle)"
            notes.append(f"the {self.energy_mj:g} mJ budget is compared with the {part} energy")
        if self.rate_hz is not None:
            idle = (
                "includes the device's idle power all the time (a device that runs only this model)"
                if self.include_idle
                else "excludes idle power: it is the model's own share above idle"
            )
            notes.append(
                f"average power at {self.rate_hz:g} Hz = idle power + dynamic energy per "
                "inference × rate (a model slower than the rate runs back to back, at its "
                f"own rate); it {idle}"
            )
        if self.battery_wh is not None:
            notes.append(
                f"battery hours = {self.battery_wh:g} Wh / average power, for an ideal battery "
                "(no conversion losses, full capacity usable, no display or radio)"
            )
        return notes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CompareConfig:
    """What ``edgesub compare`` is asked: the budget, and how to get records for model files.

    ``devices`` empty means every device of a given profile.json, or the default devices
    (``ProfileConfig``) when model files are estimated first.
    """

    budget: Budget
    devices: tuple[str, ...] = ()
    threads: int = 1
    measure: bool = False
    input_shape: tuple[int, ...] | None = None
    profiles_dir: str | None = None
    runtime: str | None = None  # estimate model files as this runtime runs them

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")


def battery_capacity_wh(
    *, mah: float | None = None, volts: float | None = None, wh: float | None = None
) -> float | None:
    """Battery energy in Wh from mAh × V or given directly; exactly one way, or none."""
    if wh is not None and (mah is not None or volts is not None):
        raise ConfigError("give the battery as --battery-wh or as --battery-mah with --battery-v")
    if wh is not None:
        return wh
    if (mah is None) != (volts is None):
        raise ConfigError("--battery-mah and --battery-v go together (capacity and voltage)")
    if mah is None or volts is None:
        return None
    if mah <= 0 or volts <= 0:
        raise ConfigError(f"battery capacity and voltage must be > 0, got {mah} mAh, {volts} V")
    return mah * volts / 1000.0


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and value == value else None


def idle_power_w(record: dict[str, Any]) -> float | None:
    """Idle power of the record's device, recovered from its total and dynamic energy."""
    total, dynamic = _number(record.get("energy_mj")), _number(record.get("energy_dynamic_mj"))
    latency = _number(record.get("latency_ms"))
    if total is None or dynamic is None or not latency:
        return None
    return max(total - dynamic, 0.0) / latency


def _power_figures(record: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """Duty cycle, average power (mW) and battery hours at the budget's rate."""
    figures: dict[str, Any] = {"duty_cycle": None, "average_power_mw": None, "battery_hours": None}
    latency = _number(record.get("latency_ms"))
    if budget.rate_hz is None or not latency:
        return figures
    figures["duty_cycle"] = round(latency * budget.rate_hz / 1000.0, 6)
    dynamic, idle = _number(record.get("energy_dynamic_mj")), idle_power_w(record)
    if dynamic is None or idle is None:
        return figures
    # A model slower than the rate keeps the device busy all the time, at most 1000/latency Hz.
    achieved_hz = min(budget.rate_hz, 1000.0 / latency)
    power_mw = dynamic * achieved_hz + (1000.0 * idle if budget.include_idle else 0.0)
    figures["average_power_mw"] = round(power_mw, 4)
    if budget.battery_wh is not None and power_mw > 0:
        figures["battery_hours"] = round(budget.battery_wh / (power_mw / 1000.0), 3)
    return figures


def _problems(record: dict[str, Any], figures: dict[str, Any], budget: Budget) -> list[str]:
    """Why a record does not fit, one short phrase per failed or uncheckable limit."""
    problems = []
    if record.get("fits_in_memory") is False:
        problems.append("exceeds RAM")
    elif record.get("fits_in_memory") is None:
        problems.append("RAM fit unknown")
    latency = _number(record.get("latency_ms"))
    if budget.max_latency_ms is not None and (latency is None or latency > budget.max_latency_ms):
        problems.append(f"latency > {budget.max_latency_ms:g} ms")
    energy = _number(record.get("energy_mj" if budget.include_idle else "energy_dynamic_mj"))
    if budget.energy_mj is not None:
        if energy is None:
            problems.append("energy unknown")
        elif energy > budget.energy_mj:
            problems.append(f"energy > {budget.energy_mj:g} mJ")
    duty = figures["duty_cycle"]
    if duty is not None and duty > 1:
        problems.append(f"too slow for {budget.rate_hz:g} Hz")
    power, hours = figures["average_power_mw"], figures["battery_hours"]
    if budget.max_power_mw is not None:
        if power is None:
            problems.append("power unknown")
        elif power > budget.max_power_mw:
            problems.append(f"power > {budget.max_power_mw:g} mW")
    if budget.min_hours is not None:
        if hours is None:
            problems.append("battery life unknown")
        elif hours < budget.min_hours:
            problems.append(f"battery < {budget.min_hours:g} h")
    return problems


_ROW_KEYS = (
    "artifact", "path", "format", "precision", "device", "device_name", "threads", "accuracy",
    "latency_ms", "latency_kind", "latency_error_pct", "peak_memory_mb", "memory_kind",
    "fits_in_memory", "energy_mj", "energy_dynamic_mj", "energy_kind", "size_bytes",
    "costed_fraction", "uncosted_ops",
)  # fmt: skip


def compare_row(record: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """One record with its budget verdict: ``fits_budget`` and the ``problems`` when not."""
    figures = _power_figures(record, budget)
    problems = _problems(record, figures, budget)
    return {
        **{key: record.get(key) for key in _ROW_KEYS},
        **figures,
        "power_kind": record.get("energy_kind") if figures["average_power_mw"] else None,
        "fits_budget": not problems,
        "problems": problems,
        "pareto": False,
    }


# Objectives of the Pareto front: (row key, +1 to maximise / -1 to minimise).
OBJECTIVES = (("accuracy", 1.0), ("latency_ms", -1.0), ("energy_mj", -1.0))


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and a != b


def mark_pareto(rows: list[dict[str, Any]]) -> None:
    """Flag the rows no other row of the same device beats on every objective at once.

    An objective enters a device's comparison only when every row of that device has it (host
    rows have no energy without a sensor; third-party files have no accuracy), so a missing
    figure never makes a row look better or worse than it is.
    """
    for device in dict.fromkeys(r["device"] for r in rows):
        group = [r for r in rows if r["device"] == device]
        keys = [
            (key, sign)
            for key, sign in OBJECTIVES
            if all(_number(r.get(key)) is not None for r in group)
        ]
        scores = [tuple(sign * float(r[key]) for key, sign in keys) for r in group]
        for row, score in zip(group, scores, strict=True):
            row["pareto"] = not any(_dominates(other, score) for other in scores)


def compare_records(records: list[dict[str, Any]], budget: Budget) -> dict[str, Any]:
    """Budget verdict and Pareto membership for every artifact × device record, by device."""
    devices = list(dict.fromkeys(str(r.get("device")) for r in records))
    by_device = sorted(records, key=lambda r: devices.index(str(r.get("device"))))
    rows = [compare_row(r, budget) for r in by_device]
    mark_pareto(rows)
    pareto: dict[str, list[str]] = {}
    for row in rows:
        if row["pareto"]:
            pareto.setdefault(row["device"], []).append(row["artifact"])
    return {
        "schema_version": SCHEMA_VERSION,
        "budget": budget.to_dict(),
        "assumptions": budget.assumptions(),
        "objectives": [
            f"{'maximise' if sign > 0 else 'minimise'} {key}" for key, sign in OBJECTIVES
        ],
        "rows": rows,
        "fitting": [
            {"artifact": r["artifact"], "device": r["device"]} for r in rows if r["fits_budget"]
        ],
        "pareto": pareto,
    }


def load_profile_records(target: str | Path) -> list[dict[str, Any]]:
    """Records of a ``profile.json`` file, or of the one in a run directory."""
    path = Path(target)
    if path.is_dir():
        path = path / "profile.json"
    if not path.is_file():
        run = path.parent if (path.parent / "config.toml").is_file() else "RUN_DIR"
        raise ConfigError(
            f"no profile found at {path}; `edgesub profile {shlex.quote(str(run))}` writes "
            "one into a run"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable profile.json ({exc})") from None
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"{path}: expected a profile.json with a list of 'records'")
    missing = [k for k in ("artifact", "device", "latency_ms") if records and k not in records[0]]
    if missing:
        raise ConfigError(f"{path}: profile records lack field(s) {', '.join(missing)}")
    return records


def select_devices(
    records: list[dict[str, Any]], devices: list[str], target: str | Path = "RUN_DIR"
) -> list[dict[str, Any]]:
    """Only the records of ``devices`` (all when empty or ``all``); a device with no record is
    an error naming the command that profiles ``target`` (the run the records came from) on
    them."""
    if not devices or ALL_DEVICES in devices:
        return records
    present = list(dict.fromkeys(str(r.get("device")) for r in records))
    unknown = [d for d in devices if d not in present]
    if unknown:
        again = " ".join(f"--device {shlex.quote(device)}" for device in devices)
        raise ConfigError(
            f"the profile has no records for device(s) {', '.join(unknown)}; it has: "
            f"{', '.join(present)} (profile the artifacts on them with "
            f"`edgesub profile {shlex.quote(str(target))} {again}`)"
        )
    return [r for r in records if r.get("device") in devices]


def write_comparison(path: str | Path, comparison: dict[str, Any]) -> Path:
    """Write ``compare.json`` atomically."""
    return atomic_write_json(path, comparison)
