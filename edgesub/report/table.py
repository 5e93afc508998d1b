"""Rich tables for the terminal: profile records, run summary, stage timings.

Every column header names its unit and every figure row says whether it was measured or
estimated, so a screenshot of the terminal cannot be misread. Cells are built as ``Text``
objects, never markup strings, so user file names containing ``[`` cannot inject styles.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgesub.console import printable
from edgesub.profile.compare_record import TOO_SLOW
from edgesub.report import fmt
from edgesub.report.rows import model_rows, timing_rows
from edgesub.report.rundata import read_run_data
from edgesub.rundir import RunDir

if TYPE_CHECKING:
    from edgesub.profile.compare_record import CompareRecord, CompareRow, DeviceRecommendation
    from edgesub.profile.profile_record import DeviceIdentity, ProfileEntry, ProfileFailure

_KIND_STYLE = {"measured": "green", "estimated": "yellow", "unavailable": "dim"}


def profile_table(records: Sequence[ProfileEntry]) -> Table:
    """One row per (artifact, device) profile record, with units and measured/estimated labels."""
    table = Table(title="Profile per artifact and device", box=box.SIMPLE_HEAD)
    for header in ("Artifact", "Format", "Precision", "Device", "Threads"):
        table.add_column(header, no_wrap=True)
    table.add_column("Latency (ms)", no_wrap=True)
    table.add_column("Peak memory (MB)", no_wrap=True)
    table.add_column("Energy mJ (dynamic mJ)", no_wrap=True)
    table.add_column("Accuracy (%)", justify="right", no_wrap=True)
    for rec in records:
        table.add_row(
            Text(rec.artifact),
            Text(rec.format),
            Text(str(rec.precision)),
            Text(rec.device),
            Text(fmt.count(rec.threads)),
            _latency_cell(rec),
            _memory_cell(rec),
            _energy_cell(rec),
            Text(fmt.percent(rec.accuracy)),
        )
    return table


def profile_tables(records: Sequence[ProfileEntry], width: int) -> list[Table]:
    """The profile table if it fits ``width`` columns, else the same figures in two narrower
    tables: latency and memory, then energy and accuracy (the file suffix gives the format)."""
    full = profile_table(records)
    if _width(full) <= width:
        return [full]
    threads = {rec.threads for rec in records}
    uniform = len(threads) == 1
    title = "Latency and memory per artifact and device"
    if uniform:
        title += f", {fmt.count(next(iter(threads)))} thread(s)"
    timing = Table(title=title, box=box.SIMPLE_HEAD)
    energy = Table(title="Energy per inference and accuracy", box=box.SIMPLE_HEAD)
    headers = ["Artifact", "Precision", "Device", *([] if uniform else ["Threads"])]
    for header in (*headers, "Latency (ms)", "Memory (MB)"):
        timing.add_column(header, no_wrap=True)
    for header in ("Artifact", "Device", "Energy mJ (dynamic mJ)"):
        energy.add_column(header, no_wrap=True)
    energy.add_column("Accuracy (%)", justify="right", no_wrap=True)
    for rec in records:
        artifact, device = Text(rec.artifact), Text(rec.device)
        cells = [artifact, Text(str(rec.precision)), device]
        if not uniform:
            cells.append(Text(fmt.count(rec.threads)))
        timing.add_row(*cells, _latency_cell(rec), _memory_cell(rec, short=True))
        energy.add_row(artifact, device, _energy_cell(rec), Text(fmt.percent(rec.accuracy)))
    return [timing, energy]


# What each step of profiling was doing when a file failed (edgesub.profile.run.ProfileFailure).
_FAILED_STEP = {
    "load": "reading it",
    "estimate": "estimating on {devices}",
    "measure": "measuring on this machine",
}


def failure_lines(failures: Sequence[ProfileFailure]) -> list[Text]:
    """One line per file and reason that could not be profiled, naming the devices it failed
    on; the table above holds everything that did profile."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for failure in failures:
        key = (failure.path, failure.error, failure.reason)
        groups.setdefault(key, []).append(failure.device)
    return [
        Text(
            f"✗ {printable(path)}, {_FAILED_STEP[step].format(devices=_devices(devices))}: "
            + printable(reason),
            style="red",
        )
        for (path, step, reason), devices in groups.items()
    ]


def device_identity_lines(records: Sequence[ProfileEntry]) -> list[Text]:
    """One line per device measured over SSH: what it is, its clock settings, its temperature
    from before the first file to after the last, and its throttling flags."""
    by_device: dict[str, list[DeviceIdentity]] = {}
    for rec in records:
        if rec.device_identity is not None:
            by_device.setdefault(rec.device, []).append(rec.device_identity)
    return [_identity_line(device, seen) for device, seen in by_device.items()]


def _identity_line(device: str, seen: list[DeviceIdentity]) -> Text:
    first, last = seen[0], seen[-1]
    clock = f"{first.clock_mhz:g} MHz" if first.clock_mhz else "clock unknown"
    temps = (first.temperature_before_c, last.temperature_after_c)
    heat = " → ".join(f"{t:.1f}" for t in temps if t is not None)
    parts = [
        f"{first.model} ({first.machine}, {first.cores} cores: {', '.join(first.core_types)})",
        f"governor {first.governor or 'unknown'}, {clock}",
        f"{heat} °C" if heat else "no temperature sensor",
        f"throttled {first.throttled}" if first.throttled else "",
    ]
    return Text(f"{printable(device)}: " + "; ".join(printable(p) for p in parts if p))


def _devices(ids: list[str]) -> str:
    """A few device ids by name; more (``--device all``) as a count, which the line can hold."""
    return ", ".join(ids) if len(ids) <= 3 else f"{len(ids)} devices"


def _width(table: Table) -> int:
    """Columns ``table`` takes when nothing is wrapped."""
    console = Console(width=10_000, color_system=None, file=io.StringIO())
    return console.measure(table).maximum


def summary_table(run_dir: RunDir | str | Path) -> Table:
    """Accuracy and size of teacher, heads, student and each artifact; lists missing files."""
    data = read_run_data(run_dir)
    table = Table(title=f"Run {data.config_name}", box=box.SIMPLE_HEAD)
    table.add_column("Model", no_wrap=True)
    table.add_column("Details", no_wrap=True)
    table.add_column("Test accuracy (%)", justify="right", no_wrap=True)
    table.add_column("Parameters", justify="right", no_wrap=True)
    table.add_column("Size (KiB)", justify="right", no_wrap=True)
    for row in model_rows(data):
        table.add_row(
            Text(row.model),
            Text(row.detail),
            Text(fmt.percent(row.accuracy)),
            Text(fmt.count(row.params)),
            Text(fmt.kib(row.size_bytes)),
        )
    if data.missing:
        lines = [f"missing {m.name}: {m.reason}, written by `{m.command}`" for m in data.missing]
        table.caption = Text("\n".join(lines), justify="left")
    return table


def stage_timings_table(timings: dict[str, Any] | None) -> Table:
    """Wall-clock seconds per pipeline stage (timings.json) and each stage's share of the total."""
    table = Table(title="Stage timings", box=box.SIMPLE_HEAD, show_footer=True)
    rows, total = timing_rows(timings)
    table.add_column("Stage", footer="total", no_wrap=True)
    table.add_column("Time (s)", footer=fmt.seconds(total), justify="right", no_wrap=True)
    table.add_column("Share (%)", footer="100.0" if total else fmt.DASH, justify="right")
    for stage, secs, share in rows:
        table.add_row(Text(stage), Text(fmt.seconds(secs)), Text(_share(share)))
    return table


def _figure(value: str, label: str, kind: Any) -> Text:
    return Text.assemble(value, " ", (label, _KIND_STYLE.get(str(kind), "")))


def _latency_cell(rec: ProfileEntry) -> Text:
    value = fmt.number(rec.latency_ms)
    return _figure(value, fmt.latency_label(rec), rec.latency_kind)


def _memory_cell(rec: ProfileEntry, *, short: bool = False) -> Text:
    """Peak memory, its kind and whether it fits the device (``short``: only when it does not)."""
    kind = str(rec.memory_kind or "unknown")
    fits = fmt.fits_label(rec)
    cell = Text.assemble(fmt.number(rec.peak_memory_mb), " ", (kind, _KIND_STYLE.get(kind, "")))
    if not short or fits == "exceeds RAM":
        cell.append(", ")
        cell.append(fits, "red bold" if fits == "exceeds RAM" else "")
    return cell


def _energy_cell(rec: ProfileEntry) -> Text:
    kind = fmt.energy_kind(rec)
    if kind == "unavailable":
        return Text.assemble(fmt.DASH, " ", (kind, _KIND_STYLE[kind]))
    figures = f"{fmt.number(rec.energy_mj)} ({fmt.number(rec.energy_dynamic_mj)})"
    return Text.assemble(figures, " ", (kind, _KIND_STYLE.get(kind, "")))


def _share(share: float | None) -> str:
    return fmt.DASH if share is None else f"{share:.1f}"


def devices_table(profiles: list[Any]) -> Table:
    """One row per device profile: what the estimates are built from (``≈``: the FMA-load
    power borrowed from boards of the same core class)."""
    from edgesub.profile.energy import gemm_factor

    table = Table(title="Device profiles", box=box.SIMPLE_HEAD)
    table.add_column("Id", no_wrap=True, min_width=max((len(p.id) for p in profiles), default=2))
    table.add_column("CPU", max_width=24)
    headers = (
        "Cores", "GHz", "RAM (MB)", "BW (GB/s)", "1-core BW", "Idle (W)", "Load (W)",
        "FMA load (W)",
    )  # fmt: skip
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for p in profiles:
        factor, source = gemm_factor(p)
        fma = p.power_w(p.cores, factor)  # every core busy under the HPL-type load
        table.add_row(
            Text(p.id),
            Text(p.microarchitecture),
            str(p.cores),
            f"{p.clock_ghz:.2f}",
            str(p.ram_mb),
            f"{p.bandwidth_gbps:.1f}",
            f"{p.measured_bandwidth_gbps:.1f}" if p.measured_bandwidth_gbps else "—",
            f"{p.idle_w:.2f}",
            f"{p.full_load_w:.2f}",
            f"{fma:.2f}" if source == "profile" else f"≈{fma:.2f}",
        )
    table.caption = (
        "BW: theoretical; 1-core BW: measured copy traffic of one core, where published. "
        "Load: all cores under stress-ng; FMA load: under HPL (≈: borrowed from boards of the "
        "same core class). Watts as each profile's power.measured_at says."
    )
    return table


def compare_tables(comparison: CompareRecord) -> list[Table | Text]:
    """`edgesub compare`'s tables: one per model (its files are variants of one another), a row
    per artifact × device with its rank there; then each file's devices ranked, and the
    assumptions behind the figures once."""
    models = list(dict.fromkeys(r.model for r in comparison.rows))
    tables: list[Table | Text] = [
        _model_table(comparison, model, len(models) > 1) for model in models
    ]
    tables.append(_device_ranking_table(comparison.rows))
    notes = [
        "figures are estimates (yellow, ± the error band of the device's core class) unless "
        "marked measured (green)",
        *comparison.assumptions,
    ]
    tables.append(Text("\n".join(f"· {n}" for n in notes)))
    return tables


# A compare column: header, right-aligned, min width, and the cell of a row.
_Column = tuple[str, bool, int | None, "Callable[[CompareRow], Text]"]


def _model_table(comparison: CompareRecord, model: str | None, several: bool) -> Table:
    rows = [r for r in comparison.rows if r.model == model]
    title = "Variants per device" if not several else f"Model {model or 'unknown'}"
    if several:
        title += f" ({', '.join(dict.fromkeys(r.artifact for r in rows))})"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    columns = _compare_columns(comparison.budget, rows)
    for header, right, width, _ in columns:
        table.add_column(header, justify="right" if right else "left", no_wrap=width is None,
                         min_width=width)  # fmt: skip
    for row in rows:
        table.add_row(*(cell(row) for *_, cell in columns))
    if all(r.fits_in_memory for r in rows):
        table.caption = "Every file fits in each device's usable RAM."
    return table


def _compare_columns(budget: Any, rows: Sequence[CompareRow]) -> list[_Column]:
    """The columns the rows have something to say in: accuracy when any file has one, RAM
    when any file may not fit, rate and battery figures when they were asked for, the verdict
    when a budget was given."""

    def rank(row: CompareRow) -> Text:
        return Text(_rank_label(row.rank, [r for r in rows if r.device == row.device], "rank"))

    columns: list[_Column] = [
        ("Device", False, None, lambda r: Text(r.device)),
        ("Artifact", False, None, lambda r: Text(r.artifact)),
        ("Precision", False, None, lambda r: Text(r.precision or fmt.DASH)),
    ]
    if any(r.accuracy is not None for r in rows):
        columns.append(("Accuracy (%)", True, None, lambda r: Text(fmt.percent(r.accuracy))))
    columns += [
        ("Latency (ms)", False, None,
         lambda r: _short_figure(r.latency_ms, r.latency_kind, r.latency_error_pct)),
        ("× fp32", True, None, _vs_fp32),
        ("Energy (mJ)", True, None, lambda r: _short_figure(r.energy_mj, fmt.energy_kind(r), None)),
    ]  # fmt: skip
    if not all(r.fits_in_memory for r in rows):
        columns.append(("RAM", False, None, _ram))
    if budget.rate_hz is not None:
        columns += [
            (f"Keeps {budget.rate_hz:g} Hz", False, None, _keeps_rate),
            ("Power (mW)", True, None, lambda r: Text(fmt.number(r.average_power_mw))),
        ]
        if budget.battery_wh is not None:
            columns += [
                ("Battery (h)", True, None, lambda r: Text(fmt.number(r.battery_hours))),
                ("Inferences / charge", True, None,
                 lambda r: Text(fmt.count(r.inferences_per_charge))),
            ]  # fmt: skip
    columns.append(("Rank", True, None, rank))
    if budget.is_set:
        columns.append(("Budget", False, 12, _verdict))
    return columns


def _device_ranking_table(rows: Sequence[CompareRow]) -> Table:
    """Each file's devices, best first (ties marked =N), by the same figure as the ranks."""
    table = Table(title="Devices ranked for each file", box=box.SIMPLE_HEAD)
    table.add_column("Artifact", no_wrap=True)
    table.add_column("Devices, best first")
    for path in dict.fromkeys(r.path for r in rows):
        mine = sorted((r for r in rows if r.path == path), key=_device_order)
        order = " · ".join(f"{_rank_label(r.device_rank, mine, 'device_rank')} {r.device}"
                           for r in mine)  # fmt: skip
        table.add_row(Text(mine[0].artifact), Text(order))
    return table


def _device_order(row: CompareRow) -> tuple[float, float]:
    """By rank, and within a tie by the figure ranked (average power, else latency)."""
    figure = row.average_power_mw if row.keeps_rate and row.average_power_mw else row.latency_ms
    return (row.device_rank or 1e9, figure)


def _rank_label(rank: int | None, group: Sequence[CompareRow], key: str) -> str:
    """``1``, ``=1`` when another row shares the rank, ``—`` when unranked."""
    if rank is None:
        return fmt.DASH
    shared = sum(getattr(r, key) == rank for r in group) > 1
    return f"={rank}" if shared else str(rank)


def recommendation_table(advice: Sequence[DeviceRecommendation]) -> Table:
    """One line per device: the artifact to use there, the one per format, and what the choice
    rests on (measured there, or estimated for it, with the tie band)."""
    table = Table(title="Recommended artifact per device", box=box.SIMPLE_HEAD)
    for header in ("Device", "Use", "Per format", "Basis"):
        table.add_column(header)
    for item in advice:
        formats = "; ".join(f"{f}: {fmt.choice_label(c)}" for f, c in item.by_format.items())
        table.add_row(
            Text(item.device),
            Text(fmt.choice_label(item.overall)),
            Text(formats or fmt.DASH),
            Text(fmt.basis_label(item)),
        )
    return table


def _vs_fp32(row: CompareRow) -> Text:
    return Text(fmt.DASH if row.latency_vs_fp32 is None else f"{row.latency_vs_fp32:.2f}×")


def _ram(row: CompareRow) -> Text:
    return Text(fmt.fits_label(row), style="red bold" if row.fits_in_memory is False else "")


def _verdict(row: CompareRow) -> Text:
    """Fits (and Pareto), else the failed limits; a missed rate is the Keeps column's to say."""
    if row.fits_budget:
        return Text("fits · Pareto" if row.pareto else "fits", style="green")
    others = [p for p in row.problems if not (row.keeps_rate is False and p.startswith(TOO_SLOW))]
    return Text(", ".join(others) or "misses the rate", style="red")


def _short_figure(value: float | None, kind: str, band_pct: float | None) -> Text:
    """``62.8 ±85 %`` for an estimate (its band, where it has one), ``0.021 measured``."""
    style = _KIND_STYLE.get(kind, "")
    if value is None:
        return Text(fmt.DASH, style="dim")
    if kind == "estimated":
        band = f" ±{fmt.number(band_pct, 2)} %" if band_pct is not None else ""
        return Text(f"{fmt.number(value)}{band}", style=style)
    return Text(f"{fmt.number(value)} {kind}", style=style)


def _keeps_rate(row: CompareRow) -> Text:
    if row.keeps_rate is None:
        return Text(fmt.DASH)
    if row.keeps_rate:
        return Text("yes", style="green")
    return Text(f"no ({fmt.number(row.achieved_hz)} Hz)", style="red")
