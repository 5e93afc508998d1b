"""The report's first word: what to ship on each device, and the story of how it was made.

"What to ship" names, per target device, the recommended artifact with its latency (measured,
or estimated with its band), energy, memory fit and accuracy, next to the teacher's estimated
latency and energy on the same device, so the speed-up distillation bought is a number.
"How it was made" tells the training: the distillation losses, the curves, the epoch early
stopping kept, the deployed student's confusion matrix, and the command and configuration that
reproduce the run.
"""

from __future__ import annotations

import datetime
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import edgesub
from edgesub.report import fmt
from edgesub.report.markup import css_class, esc, figure, section, table
from edgesub.report.pareto_plot import comparison_of
from edgesub.report.training_plots import CAPTIONS

if TYPE_CHECKING:
    from edgesub.profile.compare_record import DeviceRecommendation
    from edgesub.profile.profile_record import ProfileEntry
    from edgesub.report.rundata import RunData


def ship_section(data: RunData) -> str:
    """Per device: the file to ship, its figures, and the teacher's on the same device."""
    advice = comparison_of(data).recommendations if data.records or data.compare else ()
    if not advice:
        return ""
    teacher = {r.device: r for r in (data.profile.teacher if data.profile else ())}
    lines, rows = [], []
    for item in advice:
        record = _chosen_record(data, item)
        if record is None:
            lines.append(f"<li>{esc(item.device_name)}: no verified artifact to ship.</li>")
            continue
        lines.append(_bottom_line(item, record, teacher.get(item.device)))
        rows.append(_ship_row(item, record, teacher.get(item.device)))
    headers = [
        ("Device", ""), ("Ship", ""), ("Latency (ms)", "num"), ("Energy (mJ)", "num"),
        ("RAM", ""), ("Accuracy (%)", "num"), ("Teacher latency (ms)", "num"),
        ("Teacher energy (mJ)", "num"), ("Speed-up", "num"), ("Energy saved", "num"),
    ]  # fmt: skip
    note = data.profile.teacher_note if data.profile else None
    content = (
        f'<ul class="bottom-line">{"".join(lines)}</ul>'
        + table(headers, rows, "ship")
        + (f'<p class="small">{esc(note)}</p>' if note else "")
    )
    intro = (
        "The file to use on each target device (the fastest verified one; a tie within the error "
        "band goes to the more accurate, then the smaller file), and the teacher estimated on "
        "the same device with the same estimator, so the ratios compare like with like."
    )
    return section("ship", "What to ship", content, intro)


def _chosen_record(data: RunData, item: DeviceRecommendation) -> ProfileEntry | None:
    if item.overall is None:
        return None
    for record in data.records:
        if record.artifact == item.overall.file and record.device == item.device:
            return record
    return None


def _kind(record: ProfileEntry, kind: str) -> str:
    """``estimated ±35 %`` or ``measured``: every figure says which it is."""
    if kind == "estimated" and record.latency_error_pct is not None:
        return f"estimated ±{fmt.number(record.latency_error_pct, 2)} %"
    return kind


def _figure(value: float | None, unit: str, record: ProfileEntry, kind: str) -> str:
    """``0.123 ms (estimated ±35 %)``; ``energy not measured`` without a figure."""
    if value is None:
        return f"{'energy' if unit == 'mJ' else 'latency'} not measured"
    return f"{fmt.number(value)} {unit} ({_kind(record, kind)})"


def _cell(value: float | None, record: ProfileEntry, kind: str) -> str:
    """A number with what it is on a small line below, so numbers align."""
    if value is None:
        return esc(fmt.DASH)
    return f'{esc(fmt.number(value))}<div class="small">{esc(_kind(record, kind))}</div>'


def _ratio(teacher: float | None, student: float | None) -> float | None:
    if not teacher or not student:
        return None
    return teacher / student


def _times(ratio: float | None) -> str:
    return fmt.DASH if ratio is None else f"{fmt.number(ratio, 2)}×"


def _bottom_line(item: Any, record: ProfileEntry, teacher: ProfileEntry | None) -> str:
    latency = _figure(record.latency_ms, "ms", record, record.latency_kind)
    energy = _figure(record.energy_mj, "mJ", record, fmt.energy_kind(record))
    accuracy = f", {fmt.percent(record.accuracy)} % test accuracy" if record.accuracy else ""
    fits = "fits in RAM" if record.fits_in_memory else fmt.fits_label(record)
    per = " per inference" if record.energy_mj is not None else " (no power sensor)"
    text = (
        f"<strong>{esc(item.device_name)}</strong>: ship <code>{esc(record.artifact)}</code> — "
        f"{esc(latency)}, {esc(energy)}{per}, {esc(fits)}{esc(accuracy)}"
    )
    speed = _ratio(teacher.latency_ms if teacher else None, record.latency_ms)
    saved = _ratio(teacher.energy_mj if teacher else None, record.energy_mj)
    if speed is not None:
        text += (
            f"; {esc(_times(speed))} faster than the teacher"
            + (f" and {esc(_times(saved))} less energy" if saved is not None else "")
            + f" (teacher {esc(fmt.number(teacher.latency_ms))} ms, estimated)"
        )
    return f"<li>{text}.</li>"


def _ship_row(item: Any, record: ProfileEntry, teacher: ProfileEntry | None) -> str:
    cells = [
        f'{esc(item.device_name)}<div class="small">{esc(item.device)}</div>',
        f"<code>{esc(record.artifact)}</code>",
        _cell(record.latency_ms, record, record.latency_kind),
        _cell(record.energy_mj, record, fmt.energy_kind(record)),
        esc(fmt.fits_label(record)),
        esc(fmt.percent(record.accuracy)),
        esc(fmt.number(teacher.latency_ms) if teacher else fmt.DASH),
        esc(fmt.number(teacher.energy_mj) if teacher else fmt.DASH),
        esc(_times(_ratio(teacher.latency_ms if teacher else None, record.latency_ms))),
        esc(_times(_ratio(teacher.energy_mj if teacher else None, record.energy_mj))),
    ]
    classes = ["", "", "num", "num", "", "num", "num", "num", "num", "num"]
    tds = "".join(f"<td{css_class(c)}>{v}</td>" for c, v in zip(classes, cells, strict=True))
    return f"<tr>{tds}</tr>"


def training_section(data: RunData, plots: list[Path]) -> str:
    """How the shipped files were made, and how to make them again."""
    student = data.student
    if not student:
        return ""
    facts = [
        ("Student", f"{student.get('arch')} (width {student.get('width')}), "
                    f"{fmt.count(student.get('deployed_params'))} deployed parameters"),
        ("Subspace", f"k = {student.get('k')}"),
        ("Distillation losses", _losses(student.get("losses"))),
        ("Epochs", f"{student.get('epochs_run')} run, early stopping kept epoch "
                   f"{student.get('best_epoch', fmt.DASH)}"),
        ("Test accuracy", f"{fmt.percent(student.get('test_accuracy'))} % (measured)"),
    ]  # fmt: skip
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    figures = "".join(figure(p, CAPTIONS.get(p.name, p.name)) for p in plots)
    again = f"{data.run.root.name}-again"
    config_path = str(data.run.config.resolve())  # works pasted from any folder
    command = shlex.join(["edgesub", "run", "--config", config_path, "--name", again])
    config = data.run.config.read_text(encoding="utf-8") if data.run.config.is_file() else ""
    made = _made_on(data)
    content = (
        f'<div class="table-wrap"><table class="facts">{rows}</table></div>{figures}'
        f"<p>Reproduce it as a new run, <code>{esc(again)}</code> under the configuration's "
        f"runs_dir:</p><pre><code>{esc(command)}</code></pre>"
        f"<details><summary>Configuration (config.toml)</summary><pre>{esc(config)}</pre></details>"
        f'<p class="small">{esc(made)}</p>'
    )
    return section("training", "How it was made", content)


def _losses(losses: Any) -> str:
    if isinstance(losses, dict):
        return ", ".join(f"{name} × {weight:g}" for name, weight in losses.items())
    return str(losses or fmt.DASH)


def _made_on(data: RunData) -> str:
    """When the run's last stage finished (its timings file), and the edgesub version."""
    stamp = data.run.timings.stat().st_mtime if data.run.timings.is_file() else None
    when = (
        datetime.datetime.fromtimestamp(stamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if stamp is not None
        else "an unfinished run"
    )
    return f"Run finished {when}; edgesub {edgesub.__version__}."
