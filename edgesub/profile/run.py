"""Profile artifacts: estimates per device profile, plus a real measurement on this machine.

Produces the ``profile.json`` records of docs/schemas.md (:mod:`profile_record`). Works on any
.onnx/.tflite file (a manifest only adds accuracy and precision) and needs only numpy, onnx and
ai-edge-litert.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from edgesub.console import transient_track
from edgesub.errors import ConfigError, EdgesubError
from edgesub.profile.devices import DeviceProfile, expand_device_ids, load_devices
from edgesub.profile.energy import estimate_energy
from edgesub.profile.estimate import MB, RUNTIME_COSTS, estimate
from edgesub.profile.formats import load_graph
from edgesub.profile.graph import Graph, ShapeOverride, TensorSpec
from edgesub.profile.profile_record import (
    HOST,
    DeviceIdentity,
    HostInfo,
    ProfileEntry,
    ProfileFailure,
    ProfileRecord,
)

if TYPE_CHECKING:
    from edgesub.profile.remote import RemoteMeasurement, RemoteOptions

SCHEMA_VERSION = ProfileRecord.SCHEMA_VERSION
T = TypeVar("T")


class ArtifactFacts(Protocol):
    """What profiling takes from a manifest's artifact entry (the manifest layer is above)."""

    file: str
    precision: str | None
    accuracy: float | None


class ManifestFacts(Protocol):
    """A manifest, as far as profiling reads it: its artifact entries."""

    @property
    def artifacts(self) -> Sequence[ArtifactFacts]: ...


def host_info() -> HostInfo:
    """The machine measured records come from."""
    return HostInfo(
        machine=platform.machine(),
        cpu=_cpu_name(),
        cores=os.cpu_count(),
        python=platform.python_version(),
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _host_ram_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB


def _manifest_entry(manifest: ManifestFacts | None, path: Path) -> ArtifactFacts | None:
    """The manifest entry describing ``path`` (matched by file name), or None."""
    for entry in manifest.artifacts if manifest is not None else ():
        if Path(entry.file).name == path.name:
            return entry
    return None


def _base_record(path: Path, graph: Graph, entry: ArtifactFacts | None) -> dict[str, Any]:
    return {
        "artifact": path.name,
        "path": str(path),
        "format": graph.format,
        "precision": (entry.precision if entry else None) or graph.precision,
        "size_bytes": path.stat().st_size,
        "macs": graph.macs,
        "costed_fraction": round(graph.costed_fraction, 4),
        "uncosted_ops": tuple(graph.uncosted_ops),
        "fused_ops": graph.fused_ops,
        "accuracy": entry.accuracy if entry else None,
        "model": model_signature(graph),
    }


def model_signature(graph: Graph) -> str:
    """``1×3×224×224 → 1×1000``: the shapes a file takes and gives. Variants of one model
    (fp32, fp16, int8 of the same network) share them; different models almost never do."""

    def shapes(tensors: Sequence[TensorSpec]) -> str:
        return ", ".join("×".join(str(d) for d in t.shape) or "scalar" for t in tensors)

    return f"{shapes(graph.inputs)} → {shapes(graph.outputs)}"


def significant(value: float, digits: int = 6) -> float:
    """``value`` to ``digits`` significant digits: a tiny student's 0.0064 ms keeps its
    precision (decimal places would not), so the idle power recovered from total and dynamic
    energy (``compare``) is not rounding noise."""
    return float(f"{value:.{digits}g}")


def estimate_record(
    path: Path,
    graph: Graph,
    device: DeviceProfile,
    threads: int,
    entry: ArtifactFacts | None = None,
    allow_partial: bool = False,
    runtime: str | None = None,
) -> ProfileEntry:
    """One estimated record (docs/schemas.md) of ``graph`` on ``device``, as ``runtime``
    (default: the one that runs the file's format) would run it."""
    est = estimate(graph, device, threads, allow_partial=allow_partial, runtime=runtime)
    energy = estimate_energy(device, est.threads, est.parts)
    return ProfileEntry(
        **_base_record(path, graph, entry),
        device=device.id,
        device_name=device.display_name,
        threads=est.threads,
        latency_ms=significant(est.latency_ms),
        latency_kind="estimated",
        runtime=est.runtime,
        latency_error_pct=est.latency_error_pct,
        latency_p90_ms=None,
        peak_memory_mb=round(est.peak_memory_mb, 3),
        memory_kind="estimated",
        fits_in_memory=est.fits_in_memory,
        energy_mj=significant(energy.energy_mj),
        energy_dynamic_mj=significant(energy.energy_dynamic_mj),
        energy_kind=energy.energy_kind,
        power_w=significant(energy.power_w),
    )


@dataclass(frozen=True)
class MeasuredOn:
    """The machine a measurement ran on: the record's device, its name and RAM."""

    device: str
    name: str
    ram_mb: float | None
    identity: DeviceIdentity | None = None


def this_machine() -> MeasuredOn:
    """The machine edgesub runs on, as measured records name it (device `host`)."""
    return MeasuredOn(HOST, _cpu_name(), _host_ram_mb())


def measured_record(
    path: Path,
    graph: Graph,
    entry: ArtifactFacts | None,
    measurement: dict[str, Any],
    machine: MeasuredOn | None = None,
) -> ProfileEntry:
    """The record of a real measurement: on this machine (``device: "host"``) by default."""
    machine = machine or this_machine()
    energy = measurement.get("energy_mj")
    peak = measurement["peak_memory_mb"]
    return ProfileEntry(
        **_base_record(path, graph, entry),
        device=machine.device,
        device_name=machine.name,
        threads=measurement["threads"],
        latency_ms=measurement["latency_ms"],
        latency_kind="measured",
        runtime=measurement.get("runtime"),
        latency_error_pct=None,
        latency_p90_ms=measurement.get("latency_p90_ms"),
        peak_memory_mb=peak,
        memory_kind="measured",
        fits_in_memory=peak <= machine.ram_mb if machine.ram_mb else None,
        energy_mj=energy,
        energy_dynamic_mj=None,
        energy_kind=measurement.get("energy_kind") or ("measured" if energy else "unavailable"),
        power_w=round(energy / measurement["latency_ms"], 4) if energy else None,
        device_identity=machine.identity,
    )


@dataclass
class ProfileResult:
    """What a batch produced: profile records, failures, and the files asked (their order)."""

    paths: list[Path]
    records: list[ProfileEntry] = field(default_factory=list)
    failures: list[ProfileFailure] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """Records and failure records together, grouped by artifact in input order."""
        both: list[ProfileEntry | ProfileFailure] = [*self.records, *self.failures]
        return [row.to_dict() for row in _ordered(both, self.paths)]

    def failed_files(self) -> list[Path]:
        """The files with at least one failure, once each, in input order."""
        failed = {f.path for f in self.failures}
        return list(dict.fromkeys(p for p in self.paths if str(p) in failed))


@dataclass
class _Batch:
    """Runs each step of a batch; a failure is recorded and the batch goes on unless strict."""

    result: ProfileResult
    strict: bool

    def attempt(
        self, step: str, path: Path, devices: list[str], action: Callable[..., T], *args: Any
    ) -> T | None:
        """``action(*args)``, or None once its failure is recorded for each of ``devices``."""
        try:
            return action(*args)
        except ConfigError:
            raise  # a bad option or device profile concerns every file, not this one
        except EdgesubError as exc:
            if self.strict:
                raise
            self.result.failures += [
                ProfileFailure(
                    artifact=path.name, path=str(path), device=device, error=step, reason=str(exc)
                )
                for device in devices
            ]
            return None

    def add(
        self, step: str, path: Path, device: str, action: Callable[..., ProfileEntry], *args: Any
    ) -> None:
        """Keep the record ``action(*args)`` makes for ``device``, or its failure."""
        record = self.attempt(step, path, [device], action, *args)
        if record is not None:
            self.result.records.append(record)


def profile_artifacts(paths: list[Path], devices: list[str], **options: Any) -> list[ProfileEntry]:
    """Records for every artifact × device; the first file that cannot be profiled raises.

    For a run's own artifacts (the pipeline's profile stage), where any failure is a bug.
    ``options`` are :func:`profile_batch`'s.
    """
    return profile_batch(paths, devices, strict=True, **options).records


def profile_batch(
    paths: list[Path],
    devices: list[str],
    *,
    strict: bool = False,
    threads: int = 1,
    measure: bool = True,
    warmup: int = 10,
    runs: int = 50,
    profiles_dir: str | Path | None = None,
    input_shape: ShapeOverride = None,
    manifest: ManifestFacts | None = None,
    progress: bool = True,
    allow_partial: bool = False,
    runtime: str | None = None,
    remote: RemoteOptions | None = None,
) -> ProfileResult:
    """Records for every artifact × device (estimated), plus one measured "host" record each.

    ``devices`` may say ``all`` (every profile, the user's included). A file that cannot be
    read, estimated or measured becomes a :class:`ProfileFailure` and the others go on;
    ``strict`` raises the first instead. A graph with ops of unknown cost fails to estimate
    unless ``allow_partial`` (then its records say so). ``runtime`` estimates every file as that
    runtime would run it (a name of ``edgesub.profile.estimate.RUNTIME_COSTS``). Files are read
    and estimated before the slow measurement starts, so a typo fails in a second rather than
    after minutes. ``remote`` measures on that device over SSH instead of here (records of
    device ``ssh:TARGET``); a device that cannot be reached or used raises, whatever ``strict``.
    """
    if runtime is not None:
        RUNTIME_COSTS.get(runtime)  # an unknown name fails once, listing the known ones
    registry = load_devices(profiles_dir)
    profiles = [registry.get(d) for d in expand_device_ids(devices, registry)]
    batch = _Batch(ProfileResult([Path(p) for p in paths]), strict)
    measured_on = remote.device_id if remote else HOST
    every = [p.id for p in profiles] + ([measured_on] if measure else [])
    graphs = []  # read and estimated file by file, so strict stops at the first bad one
    for path in batch.result.paths:
        graph = batch.attempt("load", path, every, load_graph, path, input_shape)
        if graph is None:
            continue
        graphs.append((path, graph))
        entry = _manifest_entry(manifest, path)
        for device in profiles:
            batch.add(
                "estimate",
                path,
                device.id,
                estimate_record,
                path,
                graph,
                device,
                threads,
                entry,
                allow_partial,
                runtime,
            )
    settings = {"threads": threads, "warmup": warmup, "runs": runs, "input_shape": input_shape}
    if measure and remote is not None:
        _measure_remote(batch, graphs, manifest, settings, remote, progress)
    elif measure:
        for path, graph in transient_track(
            graphs, "profiling", total=len(graphs), enabled=progress
        ):
            entry = _manifest_entry(manifest, path)
            batch.add("measure", path, HOST, _measured, path, graph, entry, settings)
    result = batch.result
    result.records = _ordered(result.records, result.paths)
    rank = _rank(result.paths)
    result.failures.sort(key=lambda f: rank[f.path])  # stable: each file's steps in order
    return result


def _measured(
    path: Path, graph: Graph, entry: ArtifactFacts | None, settings: dict[str, Any]
) -> ProfileEntry:
    """The host record of ``path``, measured here (``settings``: measure_artifact's)."""
    from edgesub.profile.measure import measure_artifact

    return measured_record(path, graph, entry, measure_artifact(path, **settings))


def _measure_remote(
    batch: _Batch,
    graphs: list[tuple[Path, Graph]],
    manifest: ManifestFacts | None,
    settings: dict[str, Any],
    remote: RemoteOptions,
    progress: bool,
) -> None:
    """One ``ssh:TARGET`` record per file, all measured in one session on the device."""
    from edgesub.console import note
    from edgesub.profile.remote import measure_remote

    if not graphs:
        return
    (results,) = measure_remote(
        [path for path, _ in graphs], remote, [settings], lambda line: note(line, not progress)
    )
    for path, graph in graphs:
        entry = _manifest_entry(manifest, path)
        args = (path, graph, entry, results[path], remote.device_id)
        batch.add("measure", path, remote.device_id, _remote_record, *args)


def _remote_record(
    path: Path, graph: Graph, entry: ArtifactFacts | None, result: RemoteMeasurement, device: str
) -> ProfileEntry:
    """The record of one file measured on the device, or its error raised for the batch."""
    if result.error is not None:
        raise result.error
    identity = DeviceIdentity.from_dict(result.identity)
    machine = MeasuredOn(device, identity.model, identity.ram_mb, identity)
    assert result.measurement is not None
    return measured_record(path, graph, entry, result.measurement, machine)


def _ordered(records: Sequence[T], paths: list[Path]) -> list[T]:
    """Group by artifact (input order), host first, then devices in the order asked."""
    rank = _rank(paths)
    return sorted(records, key=lambda r: (rank[r.path], r.device != HOST))  # type: ignore[attr-defined]


def _rank(paths: list[Path]) -> dict[str, int]:
    return {str(p): i for i, p in enumerate(paths)}


def write_profile(
    path: str | Path,
    records: Iterable[ProfileEntry],
    failures: Iterable[ProfileFailure] = (),
    teacher: Iterable[ProfileEntry] = (),
    teacher_note: str | None = None,
) -> Path:
    """Write ``profile.json`` (docs/schemas.md) atomically; ``failures`` and the ``teacher``'s
    records are kept apart from ``records`` so every reader of the records sees only profiled
    artifacts."""
    profile = ProfileRecord(
        host=host_info(),
        records=tuple(records),
        failures=tuple(failures),
        teacher=tuple(teacher),
        teacher_note=teacher_note,
    )
    return profile.write(path)
