"""``profile.json``: what ``edgesub profile`` found per artifact × device (docs/schemas.md).

:class:`ProfileRecord` is the file; each :class:`ProfileEntry` one artifact on one device
(estimated on a device profile, or measured on this machine as device ``host``), each
:class:`ProfileFailure` a pair that could not be profiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from edgesub.errors import ConfigError, EdgesubError
from edgesub.records import FileRecord, Record, field

HOST = "host"  # the device id of records measured on the machine that ran edgesub profile
PROFILE_FILE = "profile.json"
Kind = Literal["measured", "estimated"]
EnergyKind = Literal["measured", "estimated", "unavailable"]


@dataclass(frozen=True, kw_only=True)
class HostInfo(Record):
    """The machine measured records come from."""

    TITLE: ClassVar[str] = "host"

    machine: str = field("CPU architecture (platform.machine(): x86_64, aarch64)")
    cpu: str | None = field("CPU model name (/proc/cpuinfo)")
    cores: int | None = field("logical CPUs", unit="count")
    python: str = field("Python version that ran the measurement")


@dataclass(frozen=True, kw_only=True)
class DeviceIdentity(Record):
    """The device a record was measured on over SSH, as it described itself during the run."""

    TITLE: ClassVar[str] = "device identity"

    machine: str = field("CPU architecture on the device (aarch64, x86_64)")
    model: str = field("board or CPU name: /proc/device-tree/model, else /proc/cpuinfo")
    core_types: tuple[str, ...] = field(
        "distinct core designs (Arm part numbers by name, e.g. Cortex-A76; else the CPU name)"
    )
    cores: int | None = field("logical CPUs", unit="count")
    ram_mb: float | None = field("total RAM (/proc/meminfo MemTotal)", unit="MB")
    governor: str | None = field("cpu0's cpufreq governor (null without cpufreq)")
    clock_mhz: float | None = field("cpu0's clock when the run started", unit="MHz")
    temperature_before_c: float | None = field(
        "hottest thermal zone just before this file's measurement (null without one)", unit="°C"
    )
    temperature_after_c: float | None = field(
        "hottest thermal zone just after this file's measurement", unit="°C"
    )
    throttled: str | None = field(
        "`vcgencmd get_throttled` bits, e.g. 0x0 (Raspberry Pi firmware; null elsewhere)"
    )
    python: str = field("Python version that ran the measurement on the device")


@dataclass(frozen=True, kw_only=True)
class ProfileEntry(Record):
    """One artifact on one device: latency, memory and energy, each with its kind."""

    TITLE: ClassVar[str] = "profile entry"

    artifact: str = field("file name of the artifact")
    path: str = field("the artifact's path as profiled")
    format: str = field("onnx or tflite")
    precision: str | None = field("fp32, fp16, int8, … (the manifest's, else read from the graph)")
    size_bytes: int = field("file size", unit="bytes")
    macs: int = field("multiply-accumulates of one inference", unit="count")
    costed_fraction: float | None = field(
        "share of the graph's ops with a known cost (absent in records written before it)",
        unit="fraction 0–1",
        default=None,
        omit_none=True,
    )
    uncosted_ops: tuple[str, ...] | None = field(
        "op types without a known cost, sorted (absent in records written before it)",
        default=None,
        omit_none=True,
    )
    fused_ops: int | None = field(
        "ops the runtime fuses into their producer, costed inside it (absent in records "
        "written before it)",
        unit="count",
        default=None,
        omit_none=True,
    )
    accuracy: float | None = field("test accuracy from the manifest (null without one)", unit="%")
    model: str | None = field(
        "what the file computes: its input and output shapes (files of one model at different "
        "precisions share it; `compare` ranks such variants together; absent in records "
        "written before it)",
        default=None,
        omit_none=True,
    )
    device: str = field(
        "device profile id, `host` for the machine that ran edgesub, or `ssh:TARGET` for a "
        "device measured over SSH"
    )
    device_name: str = field("the device's display name (the CPU's name for host)")
    threads: int = field("CPU threads estimated or measured at", unit="count")
    latency_ms: float = field("median latency of one inference at batch 1", unit="ms")
    latency_kind: Kind = field("measured on the host, or estimated on a device profile")
    runtime: str | None = field(
        "the runtime measured, or estimated for: onnxruntime, tflite (XNNPACK), tflite-legacy, "
        "ncnn (absent in records written before it)",
        default=None,
        omit_none=True,
    )
    latency_error_pct: float | None = field(
        "the estimator's error band for the device's core class, from leave-one-device-out "
        "(null when measured)",
        unit="± %",
    )
    latency_p90_ms: float | None = field("90th percentile latency (null when estimated)", unit="ms")
    peak_memory_mb: float = field("peak resident memory of the runtime and model", unit="MB")
    memory_kind: Kind = field("measured or estimated")
    fits_in_memory: bool | None = field("whether the peak fits the device's usable RAM")
    energy_mj: float | None = field("whole-device energy over one inference", unit="mJ")
    energy_dynamic_mj: float | None = field("the part of energy_mj above idle", unit="mJ")
    energy_kind: EnergyKind = field("measured from a power sensor, estimated, or unavailable")
    power_w: float | None = field(
        "average whole-device power while an inference runs (estimated: compute-bound time at "
        "the HPL-type load's power, the rest at the stress-type load's; absent in records "
        "written before it)",
        unit="W",
        default=None,
        omit_none=True,
    )
    device_identity: DeviceIdentity | None = field(
        "the device as it described itself, for records measured over SSH (`ssh:TARGET` "
        "devices; absent otherwise)",
        default=None,
        omit_none=True,
    )

    @property
    def measured(self) -> bool:
        return self.latency_kind == "measured"


@dataclass(frozen=True, kw_only=True)
class ProfileFailure(Record):
    """An artifact × device pair that could not be profiled, kept as a record of its own so a
    batch reports it and goes on (``--json`` and ``profile.json`` carry it too)."""

    TITLE: ClassVar[str] = "profile failure"

    artifact: str = field("file name of the artifact")
    path: str = field("the artifact's path as given")
    device: str = field("device profile id, or `host` for the measurement")
    error: Literal["load", "estimate", "measure"] = field("the step that failed")
    reason: str = field("the one-line message")

    def record(self) -> dict[str, Any]:
        return self.to_dict()


def _unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """A file without ``schema_version`` (a hand-made one, or ``edgesub profile --json``
    saved: one list whose failed pairs have an ``error`` key) is read as version 1."""
    return {"host": None, "failures": [], **data}


@dataclass(frozen=True, kw_only=True)
class ProfileRecord(FileRecord):
    """``profile.json``: the host that measured, every profiled pair and every failed one."""

    FILE: ClassVar[str] = PROFILE_FILE
    NOUN: ClassVar[str] = "profile"
    REWRITE: ClassVar[str] = "edgesub profile RUN_DIR"
    MIGRATIONS: ClassVar = {0: _unversioned}

    host: HostInfo | None = field("the machine measured records come from (null if unknown)")
    records: tuple[ProfileEntry, ...] = field(
        "one per artifact × device; host records first per artifact"
    )
    failures: tuple[ProfileFailure, ...] = field(
        "pairs that could not be profiled (absent in files written before it)", default=()
    )
    teacher: tuple[ProfileEntry, ...] = field(
        "the run's teacher (exported once to ONNX) estimated on the same devices, for the "
        "speed-up distillation bought (absent in files written before it, and outside runs)",
        default=(),
    )
    teacher_note: str | None = field(
        "why the teacher was not estimated, when it was not", default=None, omit_none=True
    )

    @classmethod
    def upgrade(cls, data: Any, reader: Any) -> dict[str, Any]:
        if isinstance(data, list):  # `edgesub profile --json` output saved to a file
            data = {
                "records": [r for r in data if not (isinstance(r, dict) and "error" in r)],
                "failures": [r for r in data if isinstance(r, dict) and "error" in r],
            }
        return super().upgrade(data, reader)


def load_profile(target: str | Path, error: type[EdgesubError] = ConfigError) -> ProfileRecord:
    """``profile.json`` (a file, or the one in a run directory), checked; a missing file is an
    error naming the command that writes one."""
    import shlex

    path = Path(target)
    if path.is_dir():
        path = path / PROFILE_FILE
    run = path.parent if (path.parent / "config.toml").is_file() else "RUN_DIR"
    command = f"edgesub profile {shlex.quote(str(run))}"
    if not path.is_file():
        raise error(f"no profile found at {path}; `{command}` writes one into a run")
    return ProfileRecord.read(path, error=error, rewrite=command)
