"""``compare.json``: budget verdicts and Pareto fronts over profile entries (docs/schemas.md).

:class:`CompareRecord` is the file: the :class:`Budget` asked, one :class:`CompareRow` per
profiled artifact × device with its verdict, the pairs that fit and each device's Pareto front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from edgesub.errors import ConfigError
from edgesub.profile.profile_record import EnergyKind, Kind, ProfileEntry
from edgesub.records import FileRecord, Record, field, like

COMPARE_FILE = "compare.json"
TOO_SLOW = "too slow for"  # how a missed --rate starts among a row's problems
# What a device's choice rests on: latencies measured on it, estimated for it, or both (some
# files measured there, others only estimated).
Basis = Literal["measured", "estimated", "mixed"]


@dataclass(frozen=True, kw_only=True)
class Budget(Record):
    """Limits a deployment must meet; every unset limit is simply not checked.

    ``rate_hz`` is the inference rate the application needs: it turns energy per inference
    into average power (``average_power_mw``) and, with ``battery_wh``, into hours of battery.
    ``include_idle`` says whether the device's idle power between (and during) inferences
    counts, which is the realistic figure for a device that runs only this model; without it
    the figures are the model's own share of the battery.
    """

    TITLE: ClassVar[str] = "budget"

    energy_mj: float | None = field("energy limit per inference", unit="mJ", default=None)
    max_latency_ms: float | None = field("latency limit per inference", unit="ms", default=None)
    rate_hz: float | None = field("inferences per second the app needs", unit="Hz", default=None)
    max_power_mw: float | None = field("average power limit at rate_hz", unit="mW", default=None)
    battery_wh: float | None = field("battery energy", unit="Wh", default=None)
    min_hours: float | None = field("battery life the device must reach", unit="h", default=None)
    include_idle: bool = field("whether idle power counts in energy and power", default=True)
    conversion_efficiency: float = field(
        "share of the battery's energy that reaches the device (regulator or boost converter)",
        unit="fraction 0–1",
        default=0.9,
    )

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            if name != "include_idle" and value is not None and not value > 0:
                raise ConfigError(f"budget {name} must be > 0, got {value!r}")
        if self.conversion_efficiency > 1:
            raise ConfigError(
                f"--conversion-efficiency is a fraction of 1, got {self.conversion_efficiency:g}"
            )
        if self.rate_hz is None and (self.max_power_mw or self.battery_wh):
            raise ConfigError("average power and battery hours need a rate: pass --rate HZ")
        if self.min_hours is not None and self.battery_wh is None:
            raise ConfigError("--min-hours needs a battery: pass --battery-wh or --battery-mah")

    @property
    def is_set(self) -> bool:
        """Whether any limit was given (a battery alone is not a limit)."""
        limits = (self.energy_mj, self.max_latency_ms, self.rate_hz, self.max_power_mw)
        return any(v is not None for v in (*limits, self.min_hours))

    def assumptions(self) -> list[str]:
        """Plain sentences saying how the figures were derived, shown beside every result."""
        notes = [
            "estimated energy per inference: compute-bound time at the device's power under an "
            "HPL-type load, the rest at its stress-ng-type power, at the used thread count and "
            "the device's full clock (a passively cooled board may throttle on sustained runs: "
            "`edgesub devices show DEVICE`)",
            "ranks: lower latency first (with a rate: the rows that keep it first, by average "
            "power); figures whose error bands overlap, or that are within 2 % of each other, "
            "share a rank (=N)",
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
                f"battery hours = {self.battery_wh:g} Wh × {self.conversion_efficiency:.0%} "
                "conversion efficiency / average power; inferences per charge = battery hours × "
                "the rate kept; an ideal battery otherwise (full capacity usable, no ageing or "
                "temperature loss), display, radio and sensors excluded"
            )
        return notes


@dataclass(frozen=True, kw_only=True)
class CompareRow(Record):
    """One profile entry with its budget verdict and Pareto membership."""

    TITLE: ClassVar[str] = "compare row"

    artifact: str = like(ProfileEntry, "artifact")
    path: str = like(ProfileEntry, "path")
    format: str = like(ProfileEntry, "format")
    precision: str | None = like(ProfileEntry, "precision")
    device: str = like(ProfileEntry, "device")
    device_name: str = like(ProfileEntry, "device_name")
    threads: int = like(ProfileEntry, "threads")
    accuracy: float | None = like(ProfileEntry, "accuracy")
    latency_ms: float = like(ProfileEntry, "latency_ms")
    latency_kind: Kind = like(ProfileEntry, "latency_kind")
    latency_error_pct: float | None = like(ProfileEntry, "latency_error_pct")
    peak_memory_mb: float = like(ProfileEntry, "peak_memory_mb")
    memory_kind: Kind = like(ProfileEntry, "memory_kind")
    fits_in_memory: bool | None = like(ProfileEntry, "fits_in_memory")
    energy_mj: float | None = like(ProfileEntry, "energy_mj")
    energy_dynamic_mj: float | None = like(ProfileEntry, "energy_dynamic_mj")
    energy_kind: EnergyKind = like(ProfileEntry, "energy_kind")
    size_bytes: int = like(ProfileEntry, "size_bytes")
    costed_fraction: float | None = like(ProfileEntry, "costed_fraction")
    uncosted_ops: tuple[str, ...] | None = like(ProfileEntry, "uncosted_ops")
    model: str | None = like(ProfileEntry, "model")
    duty_cycle: float | None = field(
        "share of the time busy at rate_hz (above 1: too slow)", unit="fraction"
    )
    keeps_rate: bool | None = field(
        "whether one inference fits in 1/rate_hz (null without a rate)", default=None
    )
    achieved_hz: float | None = field(
        "inferences per second it runs at: rate_hz, or fewer when too slow", unit="Hz", default=None
    )
    average_power_mw: float | None = field("average power at rate_hz", unit="mW")
    battery_hours: float | None = field("battery life at rate_hz", unit="h")
    inferences_per_charge: int | None = field(
        "inferences one battery charge gives at the achieved rate", unit="count", default=None
    )
    power_kind: EnergyKind | None = field("the energy_kind behind average_power_mw")
    latency_vs_fp32: float | None = field(
        "latency over the fp32 variant's on this device, same model and format (null: no fp32 "
        "variant)",
        unit="ratio",
        default=None,
    )
    rank: int | None = field(
        "rank among the model's variants on this device (ties within the error bands share a "
        "rank; null: cannot be ranked)",
        unit="1 = best",
        default=None,
    )
    device_rank: int | None = field(
        "rank of this device among the devices for this artifact (ties share a rank)",
        unit="1 = best",
        default=None,
    )
    fits_budget: bool = field("whether every limit of the budget is met")
    problems: tuple[str, ...] = field("why not, one short phrase per failed or unknown limit")
    pareto: bool = field(
        "on its device's Pareto front among the rows within the budget (false when no budget "
        "was given)"
    )


@dataclass(frozen=True, kw_only=True)
class FitPair(Record):
    """An artifact × device pair within the budget."""

    TITLE: ClassVar[str] = "fitting pair"

    artifact: str = like(ProfileEntry, "artifact")
    device: str = like(ProfileEntry, "device")


@dataclass(frozen=True, kw_only=True)
class DeviceChoice(Record):
    """The artifact to use on a device (among one format's files, or all), and why."""

    TITLE: ClassVar[str] = "device choice"

    file: str = field("the artifact to use")
    latency_ms: float = field("its latency on the device, on the basis below", unit="ms")
    basis: Basis = field(
        "measured on the device (every candidate has a measured record there), estimated for "
        "it, or mixed (a file without an estimate counted by its measurement)"
    )
    band_pct: float = field(
        "the tie band: the estimate's error band, or measurement noise", unit="± %"
    )
    tie: bool = field("whether other files were within the band of the fastest")
    ties: tuple[str, ...] = field(
        "those other files (the tie went to the more accurate, then the smaller)"
    )
    reason: str = field(
        "what decided: fastest (in a tie: and none more accurate or smaller), more accurate, "
        "or as accurate and smaller"
    )


@dataclass(frozen=True, kw_only=True)
class DeviceRecommendation(Record):
    """Which artifact to use on one device: overall and per format."""

    TITLE: ClassVar[str] = "device recommendation"

    device: str = like(ProfileEntry, "device")
    device_name: str = like(ProfileEntry, "device_name")
    threads: int = field("CPU threads the latencies are for", unit="count")
    overall: DeviceChoice | None = field("the file to use (null: none passed verification)")
    by_format: dict[str, DeviceChoice] = field("format → the file to use in that format")


@dataclass(frozen=True, kw_only=True)
class CompareRecord(FileRecord):
    """``compare.json``: what ``edgesub compare`` found for a budget."""

    FILE: ClassVar[str] = COMPARE_FILE
    NOUN: ClassVar[str] = "comparison"
    REWRITE: ClassVar[str] = "edgesub compare RUN_DIR"

    budget: Budget = field("the limits given")
    assumptions: tuple[str, ...] = field("sentences saying how the figures were derived")
    objectives: tuple[str, ...] = field("the Pareto objectives, e.g. `minimise latency_ms`")
    rows: tuple[CompareRow, ...] = field("every profile entry with its verdict, by device")
    fitting: tuple[FitPair, ...] = field("the pairs within the budget")
    pareto: dict[str, tuple[str, ...]] = field(
        "per device, the artifacts on its Pareto front within the budget (empty without one)"
    )
    nothing_fits: tuple[str, ...] = field(
        "devices where no artifact meets the budget (empty without one)", default=()
    )
    recommendations: tuple[DeviceRecommendation, ...] = field(
        "per device, the artifact to use overall and per format (absent in older files)",
        default=(),
    )
