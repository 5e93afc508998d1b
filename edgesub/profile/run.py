"""Profile artifacts: estimates per device profile, plus a real measurement on this machine.

Produces the ``profile.json`` records of docs/run-directory.md. Works on any .onnx/.tflite file
(a manifest only adds accuracy and precision) and needs only numpy, onnx and ai-edge-litert.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from edgesub.atomic import atomic_write_json
from edgesub.console import transient_track
from edgesub.profile.devices import DeviceProfile, load_devices
from edgesub.profile.energy import estimate_energy
from edgesub.profile.estimate import MB, estimate
from edgesub.profile.formats import load_graph
from edgesub.profile.graph import Graph

SCHEMA_VERSION = 1


def host_info() -> dict[str, Any]:
    """The machine measured records come from."""
    return {
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


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


def _manifest_entry(manifest: dict | None, path: Path) -> dict[str, Any]:
    """The manifest entry describing ``path`` (matched by file name), or an empty dict."""
    for entry in (manifest or {}).get("artifacts", []):
        if Path(entry.get("file", "")).name == path.name:
            return entry
    return {}


def _base_record(path: Path, graph: Graph, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "artifact": path.name,
        "path": str(path),
        "format": graph.format,
        "precision": entry.get("precision") or graph.precision,
        "size_bytes": path.stat().st_size,
        "macs": graph.macs,
        "costed_fraction": round(graph.costed_fraction, 4),
        "uncosted_ops": graph.uncosted_ops,
        "accuracy": entry.get("accuracy"),
    }


def estimate_record(
    path: Path,
    graph: Graph,
    device: DeviceProfile,
    threads: int,
    entry: dict[str, Any],
    allow_partial: bool = False,
) -> dict[str, Any]:
    """One estimated record (docs/run-directory.md) of ``graph`` on ``device``."""
    est = estimate(graph, device, threads, allow_partial=allow_partial)
    energy = estimate_energy(device, est.threads, est.latency_ms)
    return {
        **_base_record(path, graph, entry),
        "device": device.id,
        "device_name": device.display_name,
        "threads": est.threads,
        "latency_ms": round(est.latency_ms, 4),
        "latency_kind": "estimated",
        "latency_error_pct": est.latency_error_pct,
        "latency_p90_ms": None,
        "peak_memory_mb": round(est.peak_memory_mb, 3),
        "memory_kind": "estimated",
        "fits_in_memory": est.fits_in_memory,
        "energy_mj": round(energy.energy_mj, 4),
        "energy_dynamic_mj": round(energy.energy_dynamic_mj, 4),
        "energy_kind": energy.energy_kind,
    }


def measured_record(
    path: Path, graph: Graph, entry: dict[str, Any], measurement: dict[str, Any]
) -> dict[str, Any]:
    """The ``device: "host"`` record from a real measurement on this machine."""
    energy = measurement.get("energy_mj")
    return {
        **_base_record(path, graph, entry),
        "device": "host",
        "device_name": _cpu_name(),
        "threads": measurement["threads"],
        "latency_ms": measurement["latency_ms"],
        "latency_kind": "measured",
        "latency_error_pct": None,
        "latency_p90_ms": measurement.get("latency_p90_ms"),
        "peak_memory_mb": measurement["peak_memory_mb"],
        "memory_kind": "measured",
        "fits_in_memory": measurement["peak_memory_mb"] <= _host_ram_mb(),
        "energy_mj": energy,
        "energy_dynamic_mj": None,
        "energy_kind": measurement.get("energy_kind") or ("measured" if energy else "unavailable"),
    }


def profile_artifacts(
    paths: list[Path],
    devices: list[str],
    *,
    threads: int = 1,
    measure: bool = True,
    warmup: int = 10,
    runs: int = 50,
    profiles_dir: str | Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    manifest: dict | None = None,
    progress: bool = True,
    allow_partial: bool = False,
) -> list[dict]:
    """Records for every artifact × device (estimated), plus one measured "host" record each.

    Everything is validated (device ids, files, shapes, custom ops, ops of unknown cost unless
    ``allow_partial``) before the slow measurement starts, so a typo fails in a second rather
    than after minutes.
    """
    registry = load_devices(profiles_dir)
    profiles = [registry.get(d) for d in devices]
    graphs = [(Path(p), load_graph(p, input_shape)) for p in paths]
    work = [(path, graph, device) for path, graph in graphs for device in profiles]
    records = [
        estimate_record(
            path, graph, device, threads, _manifest_entry(manifest, path), allow_partial
        )
        for path, graph, device in work
    ]
    if measure:
        from edgesub.profile.measure import measure_artifact

        for path, graph in transient_track(
            graphs, "profiling", total=len(graphs), enabled=progress
        ):
            result = measure_artifact(
                path, threads=threads, warmup=warmup, runs=runs, input_shape=input_shape
            )
            records.append(measured_record(path, graph, _manifest_entry(manifest, path), result))
    return _ordered(records, [p for p, _ in graphs])


def _ordered(records: list[dict], paths: list[Path]) -> list[dict]:
    """Group by artifact (input order), host first, then devices in the order asked."""
    rank = {str(p): i for i, p in enumerate(paths)}
    return sorted(records, key=lambda r: (rank[r["path"]], r["device"] != "host"))


def write_profile(path: str | Path, records: list[dict]) -> Path:
    """Write ``profile.json`` (docs/run-directory.md) atomically."""
    return atomic_write_json(
        path, {"schema_version": SCHEMA_VERSION, "host": host_info(), "records": records}
    )
