"""Device profiles: TOML data files (one per device) validated into :class:`DeviceProfile`.

Built-in profiles ship as package data in ``edgesub.device_profiles``; users add or override
profiles with a folder of ``*.toml`` files (``profiles_dir`` or ``$EDGESUB_PROFILES``). Every
number in a profile must name a source URL, so estimates can be traced back to published data.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edgesub.config import build_dataclass
from edgesub.errors import ConfigError
from edgesub.limits import MAX_CORES, read_text_limited
from edgesub.registry import Registry

PROFILES_ENV = "EDGESUB_PROFILES"
# The device id that stands for every profile known (built-in and the user's).
ALL_DEVICES = "all"

# Peak throughput must equal clock × documented work per cycle within this tolerance.
_PEAK_TOLERANCE = 0.02


@dataclass(frozen=True)
class Cluster:
    """A group of identical cores; threads fill the clusters in file order (fastest first)."""

    name: str
    cores: int
    microarchitecture: str
    clock_ghz: float
    fp32_flops_per_cycle: float
    fp16_flops_per_cycle: float
    int8_ops_per_cycle: float
    peak_fp32_gflops_per_core: float
    peak_fp16_gflops_per_core: float
    peak_int8_gops_per_core: float
    active_w_per_core: float


@dataclass(frozen=True)
class DeviceCalibration:
    """Scales fitted to the user's own measurements on this device (``edgesub devices
    calibrate``): compute time, memory time and dispatch overhead of the estimate times these,
    and the fit's leave-one-out error, which replaces the core class's band for this device."""

    compute_scale: float
    memory_scale: float  # > 1: the bandwidth the device reaches is below the profile's
    overhead_scale: float
    error_pct: float
    measurements: int  # how many the fit used
    date: str  # when it was fitted, ISO 8601


@dataclass(frozen=True)
class DeviceProfile:
    """One device: CPU clusters, memory and power, as published (and, for a user's calibrated
    profile, the scales its own measurements gave)."""

    id: str
    display_name: str
    soc: str
    cores: int
    microarchitecture: str
    simd: str
    clusters: tuple[Cluster, ...]
    ram_mb: int
    bandwidth_gbps: float
    idle_w: float
    full_load_w: float
    runtimes: tuple[str, ...]
    source_file: str
    gemm_load_w: float | None = None  # all cores under HPL-type FMA load, where published
    power_point: str = "unknown"  # where the watts were measured (POWER_POINTS)
    sustained_clock_ghz: float | None = None  # clock a long run settles at without cooling
    thermal_note: str = ""
    calibration: DeviceCalibration | None = None
    # DRAM traffic (bytes read + written per second) one core sustains copying a buffer far
    # larger than the caches, where a published measurement exists (tinymembench's libc
    # memcpy figure counts bytes copied, so this is twice it); None: not measured.
    measured_bandwidth_gbps: float | None = None

    @property
    def clock_ghz(self) -> float:
        return max(c.clock_ghz for c in self.clusters)

    def thread_cores(self, threads: int) -> list[Cluster]:
        """The cluster of each busy core when ``threads`` threads run (capped at the core count)."""
        placed = [c for c in self.clusters for _ in range(c.cores)]
        return placed[: max(1, min(threads, self.cores))]

    def peak_gops(self, precision: str, threads: int) -> list[float]:
        """Per-thread peak rate in GFLOPS (fp32/fp16 arithmetic) or GOPS (int8; ``int8-nodot``:
        int8 without the dot-product instructions, i.e. widening multiply-accumulates on 16-bit
        lanes at twice the fp32 rate, capped by the core's int8 rate)."""
        cores = self.thread_cores(threads)
        if precision == "int8-nodot":
            return [min(c.peak_int8_gops_per_core, 2 * c.peak_fp32_gflops_per_core) for c in cores]
        attr = {
            "int8": "peak_int8_gops_per_core",
            "fp16": "peak_fp16_gflops_per_core",
        }.get(precision, "peak_fp32_gflops_per_core")
        return [getattr(c, attr) for c in cores]

    def power_w(self, threads: int, gemm_factor: float = 1.0) -> float:
        """Board power with ``threads`` busy cores: idle plus each busy core's increment under
        integer stress (``active_w_per_core``), times ``gemm_factor`` for FMA-bound work; capped
        at the all-core figure of that load."""
        busy = sum(c.active_w_per_core for c in self.thread_cores(threads))
        cap = self.idle_w + (self.full_load_w - self.idle_w) * gemm_factor
        return min(self.idle_w + busy * gemm_factor, cap)


_REQUIRED_TOP = {"id": str, "display_name": str, "soc": str, "runtimes": list}
_REQUIRED_CPU = {"cores": int, "microarchitecture": str, "simd": str, "clusters": list}
_REQUIRED_MEMORY = {"ram_mb": int, "bandwidth_gbps": float}
_REQUIRED_POWER = {"idle_w": float, "full_load_w": float}
# Where a profile's watts were measured: at the wall socket (PSU losses included), at the
# board's USB-C/barrel input, on the 5 V rail, or whole-SoC rails of a phone's PMIC.
POWER_POINTS = ("wall", "board-input", "soc-rails", "unknown")


def parse_profile(raw: dict[str, Any], source: str) -> DeviceProfile:
    """Validate one profile's TOML table; errors name ``source`` and the field."""
    _fields(raw, _REQUIRED_TOP, "", source)
    cpu = _table(raw, "cpu", source)
    memory = _table(raw, "memory", source)
    power = _table(raw, "power", source)
    _fields(cpu, _REQUIRED_CPU, "cpu.", source)
    _fields(memory, _REQUIRED_MEMORY, "memory.", source)
    _fields(power, _REQUIRED_POWER, "power.", source)
    _check(
        cpu["cores"] <= MAX_CORES,
        source,
        "cpu.cores",
        f"must be at most {MAX_CORES}, got {cpu['cores']:,}",
    )
    clusters = tuple(_cluster(c, i, source) for i, c in enumerate(cpu["clusters"]))
    _check(bool(clusters), source, "cpu.clusters", "must list at least one cluster")
    _check(
        sum(c.cores for c in clusters) == cpu["cores"],
        source,
        "cpu.cores",
        f"is {cpu['cores']} but the clusters add up to {sum(c.cores for c in clusters)}",
    )
    _check(
        power["full_load_w"] > power["idle_w"], source, "power.full_load_w", "must exceed idle_w"
    )
    _check(all(isinstance(r, str) for r in raw["runtimes"]), source, "runtimes", "must be strings")
    gemm, point, thermal = _power_extras(raw, power, clusters, source)
    measured = _measured_bandwidth(memory, source)
    _check_sources(raw, source)
    calibration = _calibration(raw["calibration"], source) if "calibration" in raw else None
    return DeviceProfile(
        id=raw["id"],
        display_name=raw["display_name"],
        soc=raw["soc"],
        cores=cpu["cores"],
        microarchitecture=cpu["microarchitecture"],
        simd=cpu["simd"],
        clusters=clusters,
        ram_mb=memory["ram_mb"],
        bandwidth_gbps=float(memory["bandwidth_gbps"]),
        idle_w=float(power["idle_w"]),
        full_load_w=float(power["full_load_w"]),
        runtimes=tuple(raw["runtimes"]),
        source_file=source,
        gemm_load_w=gemm,
        power_point=point,
        sustained_clock_ghz=thermal.get("sustained_clock_ghz"),
        thermal_note=str(thermal.get("note", "")),
        calibration=calibration,
        measured_bandwidth_gbps=measured,
    )


def _measured_bandwidth(memory: dict[str, Any], source: str) -> float | None:
    """The optional ``memory.measured_bandwidth_gbps``: a measured stream cannot beat the bus,
    so a figure above the theoretical ``bandwidth_gbps`` is a unit or copy-counting mistake."""
    if "measured_bandwidth_gbps" not in memory:
        return None
    _fields(memory, {"measured_bandwidth_gbps": float}, "memory.", source)
    measured = float(memory["measured_bandwidth_gbps"])
    _check(
        measured <= memory["bandwidth_gbps"],
        source,
        "memory.measured_bandwidth_gbps",
        f"is {measured:g} but cannot exceed the theoretical bandwidth_gbps "
        f"{memory['bandwidth_gbps']:g}",
    )
    return measured


_REQUIRED_CALIBRATION = {
    "compute_scale": float,
    "memory_scale": float,
    "overhead_scale": float,
    "date": str,
    "measurements": list,
}


def _calibration(raw: Any, source: str) -> DeviceCalibration:
    """The ``[calibration]`` table; its numbers come from the measurements it lists, not from
    published sources, so they need no ``[[sources]]`` entry."""
    _check(isinstance(raw, dict), source, "calibration", "must be a table")
    _fields(raw, _REQUIRED_CALIBRATION, "calibration.", source)
    error = raw.get("error_pct")
    _check(
        isinstance(error, int | float) and not isinstance(error, bool) and error >= 0
        and math.isfinite(error),
        source,
        "calibration.error_pct",
        f"must be a finite number >= 0, got {error!r}",
    )  # fmt: skip
    return DeviceCalibration(
        compute_scale=float(raw["compute_scale"]),
        memory_scale=float(raw["memory_scale"]),
        overhead_scale=float(raw["overhead_scale"]),
        error_pct=float(raw["error_pct"]),
        measurements=len(raw["measurements"]),
        date=raw["date"],
    )


def _power_extras(
    raw: dict[str, Any], power: dict[str, Any], clusters: tuple[Cluster, ...], source: str
) -> tuple[float | None, str, dict[str, Any]]:
    """The optional power and thermal fields: HPL-load watts, where watts were measured, and
    the clock a sustained run settles at."""
    gemm = power.get("gemm_load_w")
    if gemm is not None:
        _fields(power, {"gemm_load_w": float}, "power.", source)
        _check(gemm >= power["full_load_w"], source, "power.gemm_load_w", "must be >= full_load_w")
    point = power.get("measured_at", "unknown")
    _check(point in POWER_POINTS, source, "power.measured_at", f"must be one of {POWER_POINTS}")
    thermal = raw.get("thermal", {})
    _check(isinstance(thermal, dict), source, "thermal", "must be a table")
    if "sustained_clock_ghz" in thermal:
        _fields(thermal, {"sustained_clock_ghz": float}, "thermal.", source)
        top = max(c.clock_ghz for c in clusters)
        ok = thermal["sustained_clock_ghz"] <= top
        _check(ok, source, "thermal.sustained_clock_ghz", f"must be <= the top clock {top:g}")
    return (float(gemm) if gemm is not None else None), point, thermal


def _check(ok: bool, source: str, field: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"device profile {source}: field '{field}' {message}")


def _table(raw: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    _check(isinstance(raw.get(key), dict), source, key, "is missing (expected a [table])")
    return raw[key]


def _fields(table: dict[str, Any], spec: dict[str, type], prefix: str, source: str) -> None:
    """Require each field with its type; numbers must be positive."""
    for name, kind in spec.items():
        field = prefix + name
        _check(name in table, source, field, "is missing")
        value = table[name]
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind) and not isinstance(value, bool)
        _check(ok, source, field, f"must be {kind.__name__}, got {value!r}")
        if kind in (int, float):
            _check(_finite_positive(value), source, field, f"must be finite and > 0, got {value!r}")
        if kind in (str, list):
            _check(bool(value), source, field, "must not be empty")


def _finite_positive(value: float) -> bool:
    """TOML reads ``inf`` and ``nan`` as floats; a device has neither (JSON could not hold them)."""
    return math.isfinite(value) and value > 0


def _cluster(raw: Any, index: int, source: str) -> Cluster:
    prefix = f"cpu.clusters[{index}]."
    _check(isinstance(raw, dict), source, prefix.rstrip("."), "must be a table")
    try:
        cluster = build_dataclass(Cluster, raw, prefix)
    except ConfigError as exc:
        raise ConfigError(f"device profile {source}: {exc}") from None
    for field in dataclasses.fields(Cluster):
        value = getattr(cluster, field.name)
        ok = bool(value) if isinstance(value, str) else value > 0
        _check(ok, source, prefix + field.name, f"must be > 0 or non-empty, got {value!r}")
    for peak, per_cycle in (
        ("peak_fp32_gflops_per_core", "fp32_flops_per_cycle"),
        ("peak_fp16_gflops_per_core", "fp16_flops_per_cycle"),
        ("peak_int8_gops_per_core", "int8_ops_per_cycle"),
    ):
        stated = getattr(cluster, peak)
        expected = cluster.clock_ghz * getattr(cluster, per_cycle)
        _check(
            abs(stated - expected) <= _PEAK_TOLERANCE * expected,
            source,
            prefix + peak,
            f"is {stated} but clock_ghz × {per_cycle} = {expected:.2f}",
        )
    return cluster


def _numeric_fields(table: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every number in a profile (cluster indices dropped)."""
    found: list[str] = []
    for key, value in table.items():
        path = prefix + key
        if key in ("sources", "calibration"):  # calibration: the user's measurements
            continue
        if isinstance(value, dict):
            found += _numeric_fields(value, path + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                found += _numeric_fields(item, path + ".")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.append(path)
    return sorted(set(found))


def _check_sources(raw: dict[str, Any], source: str) -> None:
    """Every number must be covered by a ``[[sources]]`` entry (exact field or a parent)."""
    sources = raw.get("sources")
    _check(
        isinstance(sources, list) and bool(sources), source, "sources", "is missing ([[sources]])"
    )
    covered: set[str] = set()
    for i, entry in enumerate(sources):
        field = f"sources[{i}]"
        _check(isinstance(entry, dict), source, field, "must be a table")
        _check(isinstance(entry.get("field"), str), source, field + ".field", "is missing")
        url = entry.get("url")
        _check(
            isinstance(url, str) and url.startswith(("https://", "http://")),
            source,
            field + ".url",
            f"must be an http(s) URL, got {url!r}",
        )
        covered.add(entry["field"])
    for path in _numeric_fields(raw):
        parts = path.split(".")
        prefixes = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
        _check(bool(prefixes & covered), source, path, "has no [[sources]] entry with a URL")


def read_profile(path: Path | Any, source: str | None = None) -> DeviceProfile:
    """Read and validate one TOML file (a Path or an importlib Traversable)."""
    source = source or str(path)
    try:
        raw = tomllib.loads(_profile_text(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"device profile {source}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"device profile {source}: malformed TOML ({exc})") from None
    return parse_profile(raw, source)


def _profile_text(path: Path | Any) -> str:
    """A user's file is checked first (a FIFO named x.toml would block forever, a huge one
    fill memory); the package's own are importlib resources, read as they are."""
    if isinstance(path, Path):
        return read_text_limited(path, "device profile", ConfigError)
    return path.read_text(encoding="utf-8")


@functools.cache
def _builtin_profiles() -> tuple[DeviceProfile, ...]:
    folder = resources.files("edgesub.device_profiles")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    return tuple(read_profile(f, f"edgesub.device_profiles/{f.name}") for f in files)


def _user_profiles(folder: Path) -> list[DeviceProfile]:
    if not folder.is_dir():
        raise ConfigError(f"device profiles folder not found: {folder}")
    return [read_profile(f) for f in sorted(folder.glob("*.toml"))]


def load_devices(profiles_dir: str | Path | None = None) -> Registry[DeviceProfile]:
    """Built-in profiles plus the user's folder (argument, else ``$EDGESUB_PROFILES``).

    A user profile with the id of a built-in one replaces it; two user files with one id clash.
    """
    folder = profiles_dir or os.environ.get(PROFILES_ENV) or None
    profiles = {p.id: p for p in _builtin_profiles()}
    if folder:
        seen: dict[str, str] = {}
        for profile in _user_profiles(Path(folder)):
            if profile.id == ALL_DEVICES:
                raise ConfigError(
                    f"device profile {profile.source_file}: id '{ALL_DEVICES}' is reserved "
                    "(--device all means every profile)"
                )
            if profile.id in seen:
                raise ConfigError(
                    f"device id '{profile.id}' is defined twice: {seen[profile.id]} "
                    f"and {profile.source_file}"
                )
            seen[profile.id] = profile.source_file
            profiles[profile.id] = profile
    registry: Registry[DeviceProfile] = Registry("device")
    for device_id in sorted(profiles):
        registry.add(device_id, profiles[device_id])
    return registry


def expand_device_ids(ids: Iterable[str], registry: Registry[DeviceProfile]) -> list[str]:
    """``all`` stands for every profile of ``registry``, in id order, so a folder of user
    profiles is covered without listing it; each id is kept once, in the order asked."""
    expanded: list[str] = []
    for device_id in ids:
        expanded += registry.names() if device_id == ALL_DEVICES else [device_id]
    return list(dict.fromkeys(expanded))


def get_device(device_id: str, profiles_dir: str | Path | None = None) -> DeviceProfile:
    """One profile by id; an unknown id raises an error listing the known ids."""
    return load_devices(profiles_dir).get(device_id)


def profile_text(device: DeviceProfile) -> str:
    """The TOML a profile came from: every number with its source, as the user would read it."""
    package, _, name = device.source_file.partition("/")
    if package == "edgesub.device_profiles" and name:
        return resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return _profile_text(Path(device.source_file))
