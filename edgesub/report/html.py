"""One self-contained HTML page per run: summary, timings, artifacts, profile, plots.

The page has no external assets, scripts or fonts (PNGs are base64 data URIs, CSS is inline),
so it can be mailed, archived or opened offline. Every string from the run directory is
HTML-escaped: artifact and run names are user input.
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import edgesub
from edgesub.atomic import atomic_write_text
from edgesub.report import fmt
from edgesub.report.markup import badge as _badge
from edgesub.report.markup import css_class as _class
from edgesub.report.markup import esc as _esc
from edgesub.report.markup import figure
from edgesub.report.markup import section as _section
from edgesub.report.markup import table as _table
from edgesub.report.pareto_plot import comparison_of
from edgesub.report.plots import CAPTIONS, plots_for
from edgesub.report.rows import model_rows, timing_rows
from edgesub.report.rundata import RunData, as_rundir, read_run_data
from edgesub.report.ship import ship_section, training_section
from edgesub.report.training_plots import training_plots
from edgesub.rundir import RunDir

if TYPE_CHECKING:
    from edgesub.converters.manifest_record import ArtifactEntry
    from edgesub.profile.compare_record import CompareRow, DeviceChoice
    from edgesub.profile.profile_record import ProfileEntry


def write_report(run: RunDir | str | Path) -> Path:
    """Write the run's plots and ``report.html`` (atomically) and return the page's path."""
    data = read_run_data(as_rundir(run))
    plots = plots_for(data)
    training = training_plots(data.student, data.run.plots)
    return atomic_write_text(data.run.report, render_html(data, plots, training))


def render_html(data: RunData, plots: list[Path], training: list[Path] = ()) -> str:
    """The page for ``data`` with ``plots`` (PNG files) embedded, ``training`` in the
    training story."""
    template = Template(
        resources.files("edgesub.report").joinpath("template.html").read_text("utf-8")
    )
    body = "\n".join(
        [
            _missing_section(data),
            ship_section(data),
            _summary_section(data),
            _timings_section(data),
            _artifacts_section(data),
            _profile_section(data),
            _recommendation_section(data),
            _budget_section(data),
            _plots_section(plots),
            training_section(data, list(training)),
            _how_to_read_section(),
        ]
    )
    return template.substitute(
        title=_esc(f"edgesub report — {data.config_name}"),
        name=_esc(data.config_name),
        meta=_meta_line(data),
        body=body,
        footer=_footer(data),
    )


def _meta_line(data: RunData) -> str:
    parts = [f"dataset <strong>{_esc(data.dataset or fmt.DASH)}</strong>"]
    parts.append(f"run folder <code>{_esc(data.run.root.name)}</code>")
    parts.append(f'edgesub <span class="version">{_esc(edgesub.__version__)}</span>')
    return " · ".join(parts)


def _missing_section(data: RunData) -> str:
    if not data.missing:
        return ""
    items = "\n".join(
        f"<li><code>{_esc(m.name)}</code> — {_esc(m.reason)}; written by "
        f"<code>{_esc(m.command)}</code></li>"
        for m in data.missing
    )
    return (
        '<section id="missing" class="notice"><h2>Not in this run yet</h2>'
        f"<p>The report shows what exists; these inputs are missing:</p><ul>{items}</ul></section>"
    )


def _summary_section(data: RunData) -> str:
    cards = "\n".join(_card(*card) for card in _cards(data))
    rows = [
        "<tr>"
        f"<td><strong>{_esc(r.model)}</strong></td><td>{_esc(r.detail)}</td>"
        f'<td class="num">{_esc(fmt.percent(r.accuracy))}</td>'
        f'<td class="num">{_esc(fmt.count(r.params))}</td>'
        f'<td class="num">{_esc(fmt.kib(r.size_bytes))}</td>'
        "</tr>"
        for r in model_rows(data)
    ]
    headers = [
        ("Model", ""),
        ("Details", ""),
        ("Test accuracy (%)", "num"),
        ("Parameters", "num"),
        ("Size (KiB)", "num"),
    ]
    table = _table(headers, rows) if rows else '<p class="empty">No model summaries yet.</p>'
    return _section("summary", "Run summary", f'<div class="cards">\n{cards}\n</div>\n{table}')


def _cards(data: RunData) -> list[tuple[str, str, str]]:
    """(label, value, note) for the headline figures of the run."""
    teacher, sub, student = data.teacher or {}, data.subspace or {}, data.student or {}
    full = sub.get("full_head_accuracy")
    compressed = sub.get("compressed_head_accuracy")
    return [
        ("Dataset", data.dataset or fmt.DASH, f"run {data.config_name}"),
        (
            "Subspace",
            f"{sub.get('d', teacher.get('feature_dim', fmt.DASH))} → {sub.get('k', fmt.DASH)}",
            _join_note("d → k", sub.get("method"), _compression(sub.get("compression"))),
        ),
        ("Teacher", _pct(teacher.get("test_accuracy")), _params_note(teacher.get("params"))),
        ("Full head", _pct(full), "on teacher features"),
        ("Compressed head", _pct(compressed), _delta_note(compressed, full, "full head")),
        (
            "Student + head",
            _pct(student.get("test_accuracy")),
            _params_note(student.get("deployed_params", student.get("student_params"))),
        ),
    ]


def _card(label: str, value: str, note: str) -> str:
    return (
        f'<div class="card"><div class="card-label">{_esc(label)}</div>'
        f'<div class="card-value">{_esc(value)}</div>'
        f'<div class="card-note">{_esc(note)}</div></div>'
    )


def _pct(value: Any) -> str:
    return f"{fmt.percent(value)} %" if fmt.is_number(value) else fmt.DASH


def _compression(value: Any) -> str | None:
    return f"{value:g}× compression" if fmt.is_number(value) else None


def _params_note(params: Any) -> str:
    return f"{fmt.count(params)} parameters" if params is not None else "test accuracy"


def _delta_note(value: Any, reference: Any, name: str) -> str:
    if not (fmt.is_number(value) and fmt.is_number(reference)):
        return "test accuracy"
    return f"{value - reference:+.2f} points vs {name}"


def _join_note(*parts: Any) -> str:
    return " · ".join(str(p) for p in parts if p) or fmt.DASH


def _timings_section(data: RunData) -> str:
    rows, total = timing_rows(data.timings)
    if not rows:
        return _section("timings", "Stage timings", '<p class="empty">No timings.json yet.</p>')
    body = [
        "<tr>"
        f"<td>{_esc(stage)}</td>"
        f'<td class="num">{_esc(fmt.seconds(secs))}</td>'
        f'<td class="num">{_esc(fmt.DASH if share is None else f"{share:.1f}")}</td>'
        f'<td class="bar-cell"><div class="bar" style="width:{min(share or 0.0, 100.0):.1f}%">'
        "</div></td></tr>"
        for stage, secs, share in rows
    ]
    body.append(
        f'<tr class="total"><td>total</td><td class="num">{_esc(fmt.seconds(total))}</td>'
        '<td class="num">100.0</td><td></td></tr>'
    )
    headers = [("Stage", ""), ("Time (s)", "num"), ("Share (%)", "num"), ("", "bar-cell")]
    table = _table(headers, body, "timings")
    if "report" not in {stage for stage, _, _ in rows}:
        table += (
            '<p class="empty">The total is that of the stages above: this page is written by the '
            "report stage, whose time the console and timings.json add afterwards.</p>"
        )
    return _section("timings", "Stage timings", table)


def _artifacts_section(data: RunData) -> str:
    if not data.artifacts:
        return _section("artifacts", "Artifacts", '<p class="empty">No artifacts yet.</p>')
    rows = [_artifact_row(a) for a in data.artifacts]
    headers = [
        ("File", ""),
        ("Format", ""),
        ("Precision", ""),
        ("Size (KiB)", "num"),
        ("SHA-256 (prefix)", ""),
        ("Parity vs source model", ""),
        ("Test accuracy (%)", "num"),
        ("Host latency (ms)", "num"),
        ("Convert time (s)", "num"),
    ]
    intro = (
        "Files in <code>artifacts/</code>, each verified against the model it was converted from. "
        "Host latency is measured on the machine that converted them (batch 1, median); per "
        "format the fastest verified file is recommended, and a quantised file measured slower "
        "than its fp32 file is marked."
    )
    return _section("artifacts", "Artifacts", _table(headers, rows), intro)


def _host_latency_cell(art: ArtifactEntry) -> str:
    """Measured latency, its ratio to the format's fp32 file, and the verdicts."""
    from edgesub.converters.recommend import slower_than_fp32

    ratio = art.host_latency_vs_fp32
    detail = f"{ratio:.2f}× fp32" if ratio is not None and art.precision != "fp32" else ""
    badges = _badge("slower than fp32") if slower_than_fp32(art) else ""
    badges += _badge("recommended") if art.recommended else ""
    return _figure_cell(fmt.number(art.host_latency_ms), badges, detail)


def _artifact_row(art: ArtifactEntry) -> str:
    parity = _badge(fmt.parity_verdict(art.parity))
    details = fmt.parity_details(art.parity)
    if details:
        parity += f' <span class="small">{_esc(details)}</span>'
    return (
        "<tr>"
        f"<td><code>{_esc(art.file)}</code></td>"
        f"<td>{_esc(art.format)}</td>"
        f"<td>{_esc(art.precision)}</td>"
        f'<td class="num">{_esc(fmt.kib(art.size_bytes))}</td>'
        f"<td><code>{_esc(fmt.sha_prefix(art.sha256))}</code></td>"
        f"<td>{parity}</td>"
        f'<td class="num">{_esc(fmt.percent(art.accuracy))}</td>'
        f"{_host_latency_cell(art)}"
        f'<td class="num">{_esc(fmt.seconds(art.convert_seconds))}</td>'
        "</tr>"
    )


def _profile_section(data: RunData) -> str:
    records = data.records
    if not records:
        return _section("profile", "Profile", '<p class="empty">No profile.json yet.</p>')
    rows = []
    for group in _artifact_groups(records):
        rows += [_profile_row(rec, len(group) if n == 0 else 0) for n, rec in enumerate(group)]
    headers = [
        ("Artifact", ""),
        ("Device", ""),
        ("Threads", "num"),
        ("Latency (ms)", "num"),
        ("Peak memory (MB)", "num"),
        ("Energy (mJ)", "num"),
        ("Dynamic energy (mJ)", "num"),
        ("Test accuracy (%)", "num"),
    ]
    intro = "One row per artifact and device. Labels say which figures were measured on this "
    intro += "machine and which are estimates, with their expected error and range."
    return _section("profile", "Profile", _table(headers, rows, "profile"), intro)


def _artifact_groups(records: list[ProfileEntry]) -> list[list[ProfileEntry]]:
    """Consecutive records of one artifact, so its name and accuracy span its device rows."""
    groups: list[list[ProfileEntry]] = []
    for rec in records:
        if groups and groups[-1][0].artifact == rec.artifact:
            groups[-1].append(rec)
        else:
            groups.append([rec])
    return groups


def _profile_row(rec: ProfileEntry, span: int) -> str:
    """A device row; the first row of an artifact (``span`` > 0) also carries its name."""
    cells = []
    if span:
        cells.append(
            f'<td rowspan="{span}" class="artifact"><code>{_esc(rec.artifact)}</code>'
            f'<div class="small">{_esc(rec.format)} · {_esc(rec.precision)}</div></td>'
        )
    device_name = rec.device_name or rec.device
    cells += [
        f'<td>{_esc(device_name)}<div class="small">{_esc(rec.device)}</div></td>',
        f'<td class="num">{_esc(fmt.count(rec.threads))}</td>',
        _figure_cell(
            fmt.number(rec.latency_ms),
            _badge(fmt.latency_label(rec), str(rec.latency_kind)),
            _latency_detail(rec),
        ),
        _figure_cell(
            fmt.number(rec.peak_memory_mb),
            _badge(str(rec.memory_kind or "unknown")) + " " + _badge(fmt.fits_label(rec)),
        ),
        _figure_cell(fmt.number(rec.energy_mj), _badge(fmt.energy_kind(rec))),
        f'<td class="num">{_esc(fmt.number(rec.energy_dynamic_mj))}</td>',
    ]
    if span:
        cells.append(
            f'<td rowspan="{span}" class="num group-acc">{_esc(fmt.percent(rec.accuracy))}</td>'
        )
    return f"<tr{_class('group-start' if span else '')}>{''.join(cells)}</tr>"


def _recommendation_section(data: RunData) -> str:
    """Per device, the artifact to use overall and per format, and what the choice rests on."""
    advice = comparison_of(data).recommendations if data.records or data.compare else ()
    if not advice:
        return ""
    formats = list(dict.fromkeys(f for item in advice for f in item.by_format))
    headers = [("Device", ""), ("Use", ""), *((f, "") for f in formats), ("Basis", "")]
    rows = [
        "<tr>"
        f'<td>{_esc(item.device_name)}<div class="small">{_esc(item.device)}</div></td>'
        f"<td>{_choice_cell(item.overall)}</td>"
        + "".join(f"<td>{_choice_cell(item.by_format.get(f))}</td>" for f in formats)
        + f"<td>{_esc(fmt.basis_label(item))}</td></tr>"
        for item in advice
    ]
    intro = (
        "The fastest verified file per device, overall and per format: on latencies measured on "
        "the device when every file has a measured record there (the host is the machine that "
        "ran <code>edgesub profile</code>), else on the estimates for it. Files within the "
        "error band of the fastest (the estimate's ±, or 5 % measurement noise) are a tie, "
        "which goes to the more accurate, then the smaller file."
    )
    table = _table(headers, rows, "recommended")
    return _section("recommended", "Recommended per device", table, intro)


def _choice_cell(choice: DeviceChoice | None) -> str:
    if choice is None:
        return _esc(fmt.DASH)
    cell = f"<code>{_esc(choice.file)}</code>"
    if choice.tie:
        detail = f"tie with {', '.join(choice.ties)}: {choice.reason}"
        cell += f'<div class="small">{_esc(detail)}</div>'
    return cell


def _budget_section(data: RunData) -> str:
    """The variants ranked per device and, when `edgesub compare` was given a budget, which
    pairs fit it and the Pareto front within it."""
    if not data.records and not data.compare:
        return ""
    comparison = comparison_of(data)
    budget = comparison.budget.is_set
    rows = [_budget_row(r, budget) for r in comparison.rows]
    headers = [
        ("Artifact", ""),
        ("Device", ""),
        ("Test accuracy (%)", "num"),
        ("Latency (ms)", "num"),
        ("Energy (mJ)", "num"),
        ("Average power (mW)", "num"),
        ("Battery (h)", "num"),
        ("Rank on device", "num"),
    ]
    if budget:
        headers += [("Budget", ""), ("Pareto front", "")]
    notes = [_esc(n) for n in comparison.assumptions]
    if not budget:
        command = shlex.join(["edgesub", "compare", str(data.run.root.resolve())])
        notes.insert(
            0,
            "No budget set, so nothing is marked within or outside one. Add limits with "
            f"<code>{_esc(command)} --budget-mj 5 --rate 10 --battery-wh 10</code>.",
        )
    for device in comparison.nothing_fits:
        notes.insert(0, f"Nothing fits the budget on {_esc(device)}.")
    intro = (
        "Ranks per device: figures whose error bands overlap share a rank. With a budget, the "
        "Pareto front per device over accuracy (higher), latency and energy (lower) among the "
        "pairs within it: a Pareto-optimal artifact is beaten by no other on all three at once."
    )
    content = (
        _table(headers, rows, "budget")
        + '<ul class="notes">'
        + "".join(f"<li>{n}</li>" for n in notes)
        + "</ul>"
    )
    return _section("budget", "Budgets and Pareto front", content, intro)


def _budget_row(row: CompareRow, budget: bool) -> str:
    cells = (
        "<tr>"
        f"<td><code>{_esc(row.artifact)}</code></td>"
        f"<td>{_esc(row.device_name or row.device)}</td>"
        f'<td class="num">{_esc(fmt.percent(row.accuracy))}</td>'
        f'<td class="num">{_esc(fmt.number(row.latency_ms))}'
        f'<div class="small">{_esc(row.latency_kind or "")}</div></td>'
        f'<td class="num">{_esc(fmt.number(row.energy_mj))}'
        f'<div class="small">{_esc(fmt.energy_kind(row))}</div></td>'
        f'<td class="num">{_esc(fmt.number(row.average_power_mw))}</td>'
        f'<td class="num">{_esc(fmt.number(row.battery_hours))}</td>'
        f'<td class="num">{_esc(fmt.number(row.rank))}</td>'
    )
    if not budget:
        return cells + "</tr>"
    verdict = _badge("within budget" if row.fits_budget else "outside budget")
    problems = ", ".join(row.problems)
    if problems:
        verdict += f'<div class="small">{_esc(problems)}</div>'
    pareto = _badge("Pareto-optimal") if row.pareto else _esc(fmt.DASH)
    return cells + f"<td>{verdict}</td><td>{pareto}</td></tr>"


def _figure_cell(value: str, badges: str, detail: str = "") -> str:
    """A number with its measured/estimated badge and detail below it, so numbers align."""
    detail_html = f'<div class="small">{_esc(detail)}</div>' if detail else ""
    return (
        f'<td class="num"><div class="fig">{_esc(value)}</div><div>{badges}</div>{detail_html}</td>'
    )


def _latency_detail(rec: ProfileEntry) -> str:
    band = fmt.latency_band(rec)
    if band is not None:
        return f"range {fmt.number(band[0])}–{fmt.number(band[1])}"
    p90 = rec.latency_p90_ms
    return f"p90 {fmt.number(p90)}" if fmt.is_number(p90) else ""


def _plots_section(plots: list[Path]) -> str:
    if not plots:
        return _section("plots", "Plots", '<p class="empty">No data to plot yet.</p>')
    figures = [figure(path, CAPTIONS.get(path.name, path.name)) for path in plots]
    return _section("plots", "Plots", "\n".join(figures))


def _how_to_read_section() -> str:
    items = [
        "<strong>Measured</strong> figures were timed or sampled on the machine that ran "
        "<code>edgesub profile</code> (see the footer). <strong>Estimated</strong> figures are "
        "computed for a device from its profile and the artifact's own graph; nothing ran there.",
        "Latency estimates come from a per-operator roofline (FLOPs and bytes against the "
        "device's compute and memory throughput, plus per-operator overhead), calibrated on "
        "published measurements. The ± figure is the expected error of that calibration and the "
        "expected range shows it as a band; treat it as a guide, not a guarantee.",
        "Peak memory is weights + peak live activations + runtime overhead (estimated), or the "
        "peak resident memory of a child process (measured). <em>exceeds RAM</em> means the "
        "artifact will not fit the device.",
        "Energy per inference is the device's power at the used thread count × latency; the "
        "dynamic part is the energy above idle, the share the model itself adds. "
        "<em>unavailable</em> means the machine has no power sensor edgesub can read.",
        "Accuracies are percentages on the held-out test split; an artifact's accuracy comes "
        "from running that artifact file, not the model it was converted from.",
    ]
    content = "<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"
    return _section("how-to-read", "How to read this", content)


def _footer(data: RunData) -> str:
    host = data.profile.host if data.profile else None
    if host is None:
        return "No measurements from a host in this run."
    parts = [host.machine, host.cpu, _cores(host.cores)]
    if host.python:
        parts.append(f"Python {host.python}")
    return "Measured on: " + _esc(" · ".join(str(p) for p in parts if p))


def _cores(cores: Any) -> str | None:
    return f"{cores} cores" if cores is not None else None
