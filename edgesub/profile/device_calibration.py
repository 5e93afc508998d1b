"""Fit one device's latency scales to the user's own measurements (``edgesub devices calibrate``).

The shipped estimator is calibrated on published measurements of many devices; a user with the
device on their desk has better evidence. From a CSV of their measurements (``file``,
``threads``, ``latency_ms``, optionally ``runtime``) three scales are fitted, each a physical
quantity rather than a per-model answer: how much slower or faster this device's kernels run
than the estimate's compute time, its memory time (the bandwidth it really reaches) and the
runtime's dispatch overhead (what tiny models live on). The fit minimises the
squared log error (a 2 ms and a 200 ms model count alike) with a weak pull towards 1, so a
scale the measurements cannot tell (every model compute-bound, say) stays near the estimate's.
Its leave-one-out error — each measurement predicted by a fit on the others — is the error band
the calibrated profile then carries.

With ``--remote`` the measurements are made for the user: the graphs of
:mod:`edgesub.profile.reference_suite` measured on the device at 1 and N threads.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgesub.atomic import atomic_write_text
from edgesub.config import toml_value
from edgesub.errors import ConfigError
from edgesub.limits import MAX_THREADS
from edgesub.profile.devices import DeviceProfile, profile_text, read_profile
from edgesub.profile.estimate import (
    ARITHMETIC,
    EstimatorParams,
    check_estimable,
    compute_rate_gops,
    load_params,
    op_times,
    run_seconds,
    runtime_costs_for,
)
from edgesub.profile.formats import load_graph

if TYPE_CHECKING:
    from edgesub.profile.remote import RemoteOptions

MIN_MEASUREMENTS = 3  # each held-out row is predicted from at least two others
REQUIRED_COLUMNS = ("file", "threads", "latency_ms")
# Scales searched, as natural logs: 1/50 to 50 times the estimate, then refined around the best.
_SEARCH = math.log(50.0)
_GRID = 41
_ROUNDS = 6
Scales = tuple[float, float, float]  # compute, memory, overhead
_PRIOR = 1e-3  # weight of the pull of each log-scale towards 0 (the estimate as it is)
# Timing of each reference graph on the device (measure_artifact's settings).
SUITE_TIMING = {"warmup": 5, "runs": 20, "input_shape": None}


@dataclass(frozen=True)
class Measurement:
    """One row of the user's CSV: a model file, the threads it ran at, its median latency."""

    file: Path
    threads: int
    latency_ms: float
    runtime: str | None = None


@dataclass(frozen=True)
class _Parts:
    """One measurement's estimate split into what each scale multiplies."""

    compute_s: np.ndarray  # per op
    memory_s: np.ndarray  # per op
    overhead_s: float  # per-op and per-inference dispatch, summed
    measured_s: float

    def predict_s(self, compute: np.ndarray, memory: np.ndarray, overhead: np.ndarray):
        """Latency for every combination of the three scales' values (axes in that order)."""
        ops = np.maximum(
            compute[:, None, None] * self.compute_s, memory[None, :, None] * self.memory_s
        ).sum(axis=-1)
        return ops[:, :, None] + overhead[None, None, :] * self.overhead_s


@dataclass(frozen=True)
class Calibration:
    """The fitted scales, the leave-one-out error and each measurement's estimates."""

    compute_scale: float
    memory_scale: float
    overhead_scale: float
    error_pct: float  # median |held-out prediction / measurement − 1|, %
    max_error_pct: float
    rows: tuple[tuple[Measurement, float, float, float], ...]  # (m, before, fitted, held-out) ms


def read_measurements(path: Path) -> list[Measurement]:
    """The CSV's rows, checked; ``file`` paths are relative to the CSV's folder."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ConfigError(
                    f"{path}: needs the columns {', '.join(REQUIRED_COLUMNS)} (and optionally "
                    f"runtime); missing {', '.join(missing)}"
                )
            rows = [_measurement(row, Path(path), n) for n, row in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read measurements {path}: {exc}") from None
    if len(rows) < MIN_MEASUREMENTS:
        raise ConfigError(
            f"{path}: {len(rows)} measurement(s); calibration needs at least {MIN_MEASUREMENTS} "
            "(best: models of different sizes, at 1 and N threads)"
        )
    return rows


def _measurement(row: dict[str, str], csv_path: Path, line: int) -> Measurement:
    where = f"{csv_path}, line {line}"
    file = csv_path.parent / (row.get("file") or "").strip()
    if not file.is_file():
        raise ConfigError(f"{where}: no model file {file}")
    try:
        threads = int(row["threads"])
        latency = float(row["latency_ms"])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: threads must be an integer and latency_ms a number") from None
    if not 1 <= threads <= MAX_THREADS or not (math.isfinite(latency) and latency > 0):
        raise ConfigError(f"{where}: threads must be 1-{MAX_THREADS} and latency_ms > 0")
    return Measurement(file, threads, latency, (row.get("runtime") or "").strip() or None)


def _parts(m: Measurement, device: DeviceProfile, params: EstimatorParams) -> _Parts:
    graph = load_graph(m.file)
    check_estimable(graph)
    runtime = runtime_costs_for(graph, m.runtime)
    rates = {kind: compute_rate_gops(device, kind, m.threads, params) for kind in ARITHMETIC}
    times = np.array(
        [op_times(op, device, m.threads, params, runtime, rates) for op in graph.ops]
    ).reshape(-1, 3)
    overhead = float(times[:, 2].sum()) + run_seconds(device, runtime)
    return _Parts(times[:, 0], times[:, 1], overhead, m.latency_ms / 1e3)


def _fit(parts: list[_Parts]) -> Scales:
    """The (compute, memory, overhead) scales of least squared log error: a grid over 1/50-50
    for each, then finer grids around the best (to 0.01 % steps)."""
    centre, half = np.zeros(3), _SEARCH
    for _ in range(_ROUNDS):
        axes = [np.exp(np.linspace(c - half, c + half, _GRID)) for c in centre]
        logs = np.meshgrid(*map(np.log, axes), indexing="ij")
        loss = _PRIOR * sum(grid**2 for grid in logs)
        for p in parts:
            loss = loss + (np.log(p.predict_s(*axes)) - math.log(p.measured_s)) ** 2
        best = np.unravel_index(int(np.argmin(loss)), loss.shape)
        centre = np.array([math.log(axis[i]) for axis, i in zip(axes, best, strict=True)])
        half = 4 * (2 * half / (_GRID - 1))  # four steps of this grid either side
    compute, memory, overhead = (float(math.exp(c)) for c in centre)
    return compute, memory, overhead


def _predict_ms(p: _Parts, scales: Scales) -> float:
    return float(p.predict_s(*(np.array([s]) for s in scales))[0, 0, 0]) * 1e3


def calibrate(
    device: DeviceProfile, measurements: list[Measurement], params: EstimatorParams | None = None
) -> Calibration:
    """Fit ``device``'s scales to ``measurements`` and say how well held-out ones are predicted.

    ``device`` is taken as published: a calibration already in it is not stacked on.
    """
    params = params or load_params()
    uncalibrated = dataclasses.replace(device, calibration=None)
    parts = [_parts(m, uncalibrated, params) for m in measurements]
    scales = _fit(parts)
    held_out = [_predict_ms(p, _fit(parts[:i] + parts[i + 1 :])) for i, p in enumerate(parts)]
    errors = [
        abs(h / m.latency_ms - 1.0) * 100 for h, m in zip(held_out, measurements, strict=True)
    ]
    rows = tuple(
        (m, _predict_ms(p, (1.0, 1.0, 1.0)), _predict_ms(p, scales), h)
        for m, p, h in zip(measurements, parts, held_out, strict=True)
    )
    return Calibration(
        compute_scale=round(scales[0], 4),
        memory_scale=round(scales[1], 4),
        overhead_scale=round(scales[2], 4),
        error_pct=round(float(np.median(errors)), 1),
        max_error_pct=round(max(errors), 1),
        rows=rows,
    )


def calibrate_remote(
    device: DeviceProfile,
    options: RemoteOptions,
    threads: int,
    notify: Callable[[str], None],
) -> tuple[Calibration, str]:
    """Measure the reference suite on the device over SSH at 1 and ``threads`` threads and fit
    ``device`` to it; also the device's own model string, for the profile to name."""
    from edgesub.profile.reference_suite import write_suite
    from edgesub.profile.remote import measure_remote

    counts = sorted({1, threads})
    with tempfile.TemporaryDirectory(prefix="edgesub-suite-") as tmp:
        files = write_suite(Path(tmp))
        settings = [{**SUITE_TIMING, "threads": count} for count in counts]
        rows, model = [], ""
        for by_file in measure_remote(files, options, settings, notify):
            for path in files:
                outcome = by_file[path]
                if outcome.error is not None:
                    raise outcome.error
                assert outcome.measurement is not None
                model = outcome.identity["model"]
                m = outcome.measurement
                rows.append(Measurement(path, m["threads"], m["latency_ms"], m.get("runtime")))
        return calibrate(device, rows), model


def calibration_toml(result: Calibration, source: str, date: str) -> str:
    """The ``[calibration]`` table: the scales, the error, and every measurement with the
    estimates before and after (files as the CSV named them)."""
    lines = [
        "",
        "# Fitted by `edgesub devices calibrate` to the measurements below (not published data).",
        "[calibration]",
        f"compute_scale = {result.compute_scale!r}",
        f"memory_scale = {result.memory_scale!r}",
        f"overhead_scale = {result.overhead_scale!r}",
        f"error_pct = {result.error_pct!r}  # leave-one-out, median",
        f"max_error_pct = {result.max_error_pct!r}",
        f"date = {toml_value(date)}",
        f"source = {toml_value(source)}",
    ]
    for m, before, fitted, held_out in result.rows:
        lines += [
            "",
            "[[calibration.measurements]]",
            f"file = {toml_value(m.file.name)}",
            f"threads = {m.threads}",
            f"runtime = {toml_value(m.runtime or '')}",
            f"latency_ms = {m.latency_ms!r}",
            f"estimated_ms = {round(before, 4)!r}",
            f"fitted_ms = {round(fitted, 4)!r}",
            f"held_out_ms = {round(held_out, 4)!r}",
        ]
    return "\n".join(lines) + "\n"


def write_calibrated_profile(
    device: DeviceProfile, result: Calibration, source: str, out_dir: Path
) -> Path:
    """``out_dir/ID.toml``: the device's own profile text with the calibration added, read back
    before it is kept, so ``--profiles out_dir`` is sure to load it."""
    if device.calibration is not None:
        raise ConfigError(
            f"{device.id} in {device.source_file} is already calibrated: calibrate the "
            "published profile (without that --profiles folder)"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    today = datetime.date.today().isoformat()
    text = profile_text(device).rstrip("\n") + "\n" + calibration_toml(result, source, today)
    target = out_dir / f"{device.id}.toml"
    staged = out_dir / f".{device.id}.toml.check"
    try:
        atomic_write_text(staged, text)
        read_profile(staged, str(target))
        staged.replace(target)
    finally:
        staged.unlink(missing_ok=True)
    return target
