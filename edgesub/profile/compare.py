"""Energy budgets and Pareto fronts over profile records: which artifact fits which device.

A user's question is rarely "how fast" but "which variant can I ship": it must fit the device's
RAM, answer within a latency limit, stay under an energy budget per inference, or keep a
battery-powered device running long enough at the rate the application needs. The power model
is the one the records were estimated with (docs/schemas.md): ``energy_mj`` is the whole
device over one inference, ``energy_dynamic_mj`` the part above idle, so idle power is
``(energy_mj - energy_dynamic_mj) / latency_ms`` and nothing else has to be looked up.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edgesub.errors import ConfigError
from edgesub.profile.compare_record import (
    COMPARE_FILE,
    TOO_SLOW,
    Budget,
    CompareRecord,
    CompareRow,
    FitPair,
)
from edgesub.profile.devices import ALL_DEVICES
from edgesub.profile.graph import ShapeOverride
from edgesub.profile.profile_record import ProfileEntry, load_profile
from edgesub.profile.ranking import Standing, tied_ranks
from edgesub.profile.recommend import Candidate, recommend_from_records, relative_band

SCHEMA_VERSION = CompareRecord.SCHEMA_VERSION
__all__ = ["COMPARE_FILE", "Budget", "CompareConfig", "compare_records", "load_profile_records"]


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
    input_shape: ShapeOverride = None  # one shape, or input name → shape
    profiles_dir: str | None = None
    runtime: str | None = None  # estimate model files as this runtime runs them
    across_models: bool = False  # rank files of different models against each other

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


def idle_power_w(record: ProfileEntry | CompareRow) -> float | None:
    """Idle power of the record's device, recovered from its total and dynamic energy."""
    total, dynamic = _number(record.energy_mj), _number(record.energy_dynamic_mj)
    latency = _number(record.latency_ms)
    if total is None or dynamic is None or not latency:
        return None
    return max(total - dynamic, 0.0) / latency


def _power_figures(record: ProfileEntry, budget: Budget) -> dict[str, Any]:
    """At the budget's rate: duty cycle, whether the rate is kept, average power (mW), battery
    hours and inferences per charge."""
    figures: dict[str, Any] = dict.fromkeys(
        ("duty_cycle", "keeps_rate", "achieved_hz", "average_power_mw", "battery_hours")
    )
    figures["inferences_per_charge"] = None
    latency = _number(record.latency_ms)
    if budget.rate_hz is None or not latency:
        return figures
    figures["duty_cycle"] = round(latency * budget.rate_hz / 1000.0, 6)
    figures["keeps_rate"] = latency * budget.rate_hz <= 1000.0
    # A model slower than the rate keeps the device busy all the time, at most 1000/latency Hz.
    achieved_hz = min(budget.rate_hz, 1000.0 / latency)
    figures["achieved_hz"] = round(achieved_hz, 4)
    dynamic, idle = _number(record.energy_dynamic_mj), idle_power_w(record)
    if dynamic is None or idle is None:
        return figures
    power_mw = dynamic * achieved_hz + (1000.0 * idle if budget.include_idle else 0.0)
    figures["average_power_mw"] = round(power_mw, 4)
    if budget.battery_wh is not None and power_mw > 0:
        hours = budget.battery_wh * budget.conversion_efficiency / (power_mw / 1000.0)
        figures["battery_hours"] = round(hours, 3)
        figures["inferences_per_charge"] = round(hours * 3600.0 * achieved_hz)
    return figures


def _problems(record: ProfileEntry, figures: dict[str, Any], budget: Budget) -> list[str]:
    """Why a record does not fit, one short phrase per failed or uncheckable limit."""
    problems = []
    if record.fits_in_memory is False:
        problems.append("exceeds RAM")
    elif record.fits_in_memory is None:
        problems.append("RAM fit unknown")
    latency = _number(record.latency_ms)
    if budget.max_latency_ms is not None and (latency is None or latency > budget.max_latency_ms):
        problems.append(f"latency > {budget.max_latency_ms:g} ms")
    energy = _number(record.energy_mj if budget.include_idle else record.energy_dynamic_mj)
    if budget.energy_mj is not None:
        if energy is None:
            problems.append("energy unknown")
        elif energy > budget.energy_mj:
            problems.append(f"energy > {budget.energy_mj:g} mJ")
    duty = figures["duty_cycle"]
    if duty is not None and duty > 1:
        problems.append(f"{TOO_SLOW} {budget.rate_hz:g} Hz")
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


# The profile entry's keys a compare row repeats.
_ROW_KEYS = tuple(
    f.name for f in fields(CompareRow) if f.name in {g.name for g in fields(ProfileEntry)}
)


def compare_row(record: ProfileEntry, budget: Budget) -> CompareRow:
    """One record with its budget verdict: ``fits_budget`` and the ``problems`` when not; ranks
    and Pareto membership are the whole comparison's (:func:`compare_records`)."""
    figures = _power_figures(record, budget)
    problems = _problems(record, figures, budget)
    return CompareRow(
        **{key: getattr(record, key) for key in _ROW_KEYS},
        **figures,
        power_kind=record.energy_kind if figures["average_power_mw"] else None,
        fits_budget=not problems,
        problems=tuple(problems),
        pareto=False,
    )


# Objectives of the Pareto front: (row key, +1 to maximise / -1 to minimise).
OBJECTIVES = (("accuracy", 1.0), ("latency_ms", -1.0), ("energy_mj", -1.0))


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and a != b


def pareto_flags(
    rows: Sequence[ProfileEntry | CompareRow], model_of: Callable[[Any], str] = lambda r: ""
) -> list[bool]:
    """For each row, whether no other row of the same device (and model) beats it on every
    objective.

    An objective enters a device's comparison only when every row of that device has it (host
    rows have no energy without a sensor; third-party files have no accuracy), so a missing
    figure never makes a row look better or worse than it is.
    """
    flags = [False] * len(rows)
    for device, model in dict.fromkeys((r.device, model_of(r)) for r in rows):
        group = [i for i, r in enumerate(rows) if (r.device, model_of(r)) == (device, model)]
        keys = [
            (key, sign)
            for key, sign in OBJECTIVES
            if all(_number(getattr(rows[i], key)) is not None for i in group)
        ]
        scores = {
            i: tuple(sign * float(getattr(rows[i], key)) for key, sign in keys) for i in group
        }
        for i in group:
            flags[i] = not any(_dominates(other, scores[i]) for other in scores.values())
    return flags


def compare_records(
    records: Sequence[ProfileEntry],
    budget: Budget,
    candidates: Sequence[Candidate] | None = None,
    across_models: bool = False,
) -> CompareRecord:
    """Budget verdicts, ranks and Pareto fronts for every artifact × device record, by model
    then device, and the artifact to use on each device (:mod:`recommend`; ``candidates`` say
    which files passed verification, from their manifest; without them every profiled file
    counts). Files of different models (:attr:`ProfileEntry.model`) are separate questions
    unless ``across_models``."""
    model_of = (lambda r: "") if across_models else (lambda r: r.model or "")
    models = list(dict.fromkeys(model_of(r) for r in records))
    devices = list(dict.fromkeys(r.device for r in records))
    ordered = sorted(records, key=lambda r: (models.index(model_of(r)), devices.index(r.device)))
    rows = [compare_row(r, budget) for r in ordered]
    rows = _with_ranks(rows, model_of)
    if budget.is_set:
        rows = _with_pareto(rows, model_of)
    pareto: dict[str, tuple[str, ...]] = {}
    for row in rows:
        if row.pareto:
            pareto[row.device] = (*pareto.get(row.device, ()), row.artifact)
    nothing = [d for d in devices if not any(r.fits_budget for r in rows if r.device == d)]
    return CompareRecord(
        budget=budget,
        assumptions=tuple(budget.assumptions()),
        objectives=tuple(
            f"{'maximise' if sign > 0 else 'minimise'} {key}" for key, sign in OBJECTIVES
        ),
        rows=tuple(rows),
        fitting=tuple(FitPair(artifact=r.artifact, device=r.device) for r in rows if r.fits_budget),
        pareto=pareto,
        nothing_fits=tuple(nothing) if budget.is_set else (),
        # one file to use per device only answers a question about one model
        recommendations=recommend_from_records(records, candidates) if len(models) == 1 else (),
    )


def _standing(row: CompareRow) -> Standing:
    """What a row is ranked by: with a rate, the rows that keep it by average power (± the
    dynamic part's band), then the rest by latency; without one, latency."""
    band = relative_band(row.latency_kind, row.latency_error_pct)
    if row.keeps_rate:
        if row.average_power_mw is None or row.achieved_hz is None or row.energy_dynamic_mj is None:
            return Standing(None)
        dynamic_mw = row.energy_dynamic_mj * row.achieved_hz
        return Standing(0, row.average_power_mw, band * dynamic_mw)
    tier = 1 if row.keeps_rate is False else 0
    return Standing(tier, row.latency_ms, band * row.latency_ms)


def _ranked(rows: list[CompareRow], key: Callable[[CompareRow], Any]) -> list[int | None]:
    """Tied ranks of ``rows`` within each group of ``key``."""
    ranks: list[int | None] = [None] * len(rows)
    for group in dict.fromkeys(key(r) for r in rows):
        members = [i for i, r in enumerate(rows) if key(r) == group]
        standings = [_standing(rows[i]) for i in members]
        for i, rank in zip(members, tied_ranks(standings), strict=True):
            ranks[i] = rank
    return ranks


def _with_ranks(rows: list[CompareRow], model_of: Callable[[Any], str]) -> list[CompareRow]:
    """Each row's rank among its model's variants on its device and among the devices for its
    file, and its latency over the fp32 variant's there."""
    on_device = _ranked(rows, lambda r: (model_of(r), r.device))
    across = _ranked(rows, lambda r: (model_of(r), r.path))
    fp32 = {_variant_key(r, model_of): r.latency_ms for r in rows if r.precision == "fp32"}
    return [
        dataclasses.replace(
            row,
            rank=on_device[i],
            device_rank=across[i],
            latency_vs_fp32=_ratio(
                row.latency_ms, fp32.get((model_of(row), row.device, row.format))
            ),
        )
        for i, row in enumerate(rows)
    ]


def _variant_key(row: CompareRow, model_of: Callable[[Any], str]) -> tuple[str, str, str]:
    return model_of(row), row.device, row.format


def _ratio(value: float, reference: float | None) -> float | None:
    return round(value / reference, 4) if reference else None


def _with_pareto(rows: list[CompareRow], model_of: Callable[[Any], str]) -> list[CompareRow]:
    """Pareto membership among the rows within the budget, per model and device."""
    fitting = [i for i, r in enumerate(rows) if r.fits_budget]
    flags = dict(zip(fitting, pareto_flags([rows[i] for i in fitting], model_of), strict=True))
    return [dataclasses.replace(r, pareto=flags.get(i, False)) for i, r in enumerate(rows)]


def load_profile_records(target: str | Path) -> list[ProfileEntry]:
    """Records of a ``profile.json`` file, or of the one in a run directory."""
    return list(load_profile(target).records)


def select_devices(
    records: Sequence[ProfileEntry], devices: list[str], target: str | Path = "RUN_DIR"
) -> list[ProfileEntry]:
    """Only the records of ``devices`` (all when empty or ``all``); a device with no record is
    an error naming the command that profiles ``target`` (the run the records came from) on
    them."""
    if not devices or ALL_DEVICES in devices:
        return list(records)
    present = list(dict.fromkeys(r.device for r in records))
    unknown = [d for d in devices if d not in present]
    if unknown:
        again = " ".join(f"--device {shlex.quote(device)}" for device in devices)
        raise ConfigError(
            f"the profile has no records for device(s) {', '.join(unknown)}; it has: "
            f"{', '.join(present)} (profile the artifacts on them with "
            f"`edgesub profile {shlex.quote(str(target))} {again}`)"
        )
    return [r for r in records if r.device in devices]


def write_comparison(path: str | Path, comparison: CompareRecord) -> Path:
    """Write ``compare.json`` atomically."""
    return comparison.write(path)
