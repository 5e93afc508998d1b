"""PNG plots of a run: latency, energy, accuracy vs size, accuracy vs compression, Pareto front.

Drawn on private Agg canvases (:mod:`edgesub.report.canvas`). Estimated bars are hatched and
carry their expected error; measured ones are solid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.report import fmt
from edgesub.report.canvas import OKABE_ITO, PALETTE, log_labels, render
from edgesub.report.pareto_plot import PARETO_CAPTION, PARETO_PNG, comparison_of, write_pareto_plot
from edgesub.report.rundata import RunData, as_rundir, read_run_data
from edgesub.rundir import RunDir

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from edgesub.profile.profile_record import ProfileEntry

_PRECISION_COLOR = {"fp32": OKABE_ITO[0], "fp16": OKABE_ITO[2], "int8": OKABE_ITO[1]}
_FORMAT_MARKER = {"onnx": "o", "tflite": "s"}


def write_plots(run: RunDir | str | Path) -> list[Path]:
    """Write every plot the run has data for to ``run/plots/`` and return the written paths."""
    return plots_for(read_run_data(as_rundir(run)))


def plots_for(data: RunData) -> list[Path]:
    """:func:`write_plots` for already loaded run data (the HTML report loads it once)."""
    written = [
        render(lambda fig, build=build: build(data, fig.add_subplot()), data.run.plots / name)
        for name, build in _PLOTS
    ]
    written.append(write_pareto_plot(comparison_of(data), data.run.plots / PARETO_PNG))
    return [path for path in written if path is not None]


def _latency(data: RunData, ax: Axes) -> bool:
    records = [r for r in data.records if fmt.is_number(r.latency_ms)]
    if not records:
        return False
    series = _series_labels(data.records)
    _grouped_bars(ax, records, series, "latency_ms", "latency_kind", alpha=0.85, errors=True)
    ax.set_yscale("log")
    log_labels(ax.yaxis)
    ax.set_ylabel("latency per inference (ms, log scale)")
    ax.set_title("Latency per artifact and device (hatched = estimated ± expected error)")
    return True


def _energy(data: RunData, ax: Axes) -> bool:
    records = [r for r in data.records if fmt.energy_kind(r) != "unavailable"]
    if not records:
        return False
    series = _series_labels(data.records)  # all records, so colours match the latency plot
    _grouped_bars(ax, records, series, "energy_mj", "energy_kind", alpha=0.35)
    _grouped_bars(ax, records, series, "energy_dynamic_mj", "energy_kind", alpha=1.0, legend=False)
    ax.set_yscale("log")
    log_labels(ax.yaxis)
    ax.set_ylabel("energy per inference (mJ, log scale)")
    ax.set_title("Energy per inference (dark = dynamic part above idle; hatched = estimated)")
    return True


def _grouped_bars(
    ax: Axes,
    records: list[ProfileEntry],
    series: dict[tuple[str, str], str],
    key: str,
    kind_key: str,
    *,
    alpha: float,
    errors: bool = False,
    legend: bool = True,
) -> None:
    """Bars grouped by artifact, one colour per series; estimated bars are pale and hatched."""
    colors = require("matplotlib.colors")
    artifacts = list(dict.fromkeys(r.artifact for r in records))
    shown = [k for k in series if k in {_series_key(r) for r in records}]
    width = 0.8 / len(shown)
    for rec in records:
        value = getattr(rec, key)
        if not fmt.is_number(value) or value <= 0:
            continue
        slot = shown.index(_series_key(rec))
        x = artifacts.index(rec.artifact) - 0.4 + width * (slot + 0.5)
        color = _series_colour(series, _series_key(rec))
        estimated = getattr(rec, kind_key) == "estimated"
        ax.bar(
            x,
            value,
            width * 0.92,
            facecolor=colors.to_rgba(color, alpha * 0.4 if estimated else alpha),
            hatch="///" if estimated else None,
            edgecolor=color,
            linewidth=0.8,
        )
        band = fmt.latency_band(rec) if errors else None
        if band is not None:
            low = value - max(band[0], value * 0.05)
            ax.errorbar(
                x,
                value,
                yerr=[[low], [band[1] - value]],
                fmt="none",
                ecolor="#111827",
                elinewidth=0.9,
                capsize=2.5,
            )
    ax.set_xticks(range(len(artifacts)), artifacts, rotation=15, ha="right")
    ax.set_xlim(-0.6, len(artifacts) - 0.4)
    if legend:
        entries = {series[k]: _series_colour(series, k) for k in shown}
        _device_legend(ax, entries, {getattr(r, kind_key) for r in records})


def _series_key(rec: ProfileEntry) -> tuple[str, str]:
    return rec.device, str(rec.threads)


def _series_labels(records: list[ProfileEntry]) -> dict[tuple[str, str], str]:
    """One bar series per device and thread count; threads are named only when they vary."""
    keys = list(dict.fromkeys(_series_key(r) for r in records))
    device_order = list(dict.fromkeys(device for device, _ in keys))
    keys.sort(key=lambda k: (device_order.index(k[0]), k[1].zfill(4)))
    names = {_series_key(r): r.device_name or r.device for r in records}
    if len({threads for _, threads in keys}) == 1:
        return {k: names[k] for k in keys}
    return {k: f"{names[k]}, {k[1]} thread{'' if k[1] == '1' else 's'}" for k in keys}


def _series_colour(series: dict[tuple[str, str], str], key: tuple[str, str]) -> str:
    return PALETTE[list(series).index(key) % len(PALETTE)]


def _device_legend(ax: Axes, entries: dict[str, str], kinds: set[Any]) -> None:
    """Colour per device series, then the fill styles of the kinds that occur."""
    patches = require("matplotlib.patches")
    handles = [patches.Patch(color=colour, label=label) for label, colour in entries.items()]
    if "measured" in kinds:
        handles.append(patches.Patch(facecolor="white", edgecolor="#374151", label="measured"))
    if "estimated" in kinds:
        handles.append(
            patches.Patch(facecolor="white", edgecolor="#374151", hatch="///", label="estimated")
        )
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _accuracy_size(data: RunData, ax: Axes) -> bool:
    points = [a for a in data.artifacts if _plottable(a.size_bytes, a.accuracy)]
    if not points:  # the teacher alone says nothing about deployable size
        return False
    teacher = data.teacher or {}
    has_teacher = _plottable(teacher.get("params"), teacher.get("test_accuracy"))
    for art in points:
        color = _PRECISION_COLOR.get(str(art.precision), "#4b5563")
        hollow = art.format == "tflite"
        ax.scatter(
            art.size_bytes / 1024,
            art.accuracy,
            s=90 if hollow else 45,
            marker=_FORMAT_MARKER.get(art.format, "D"),
            facecolor="none" if hollow else color,
            edgecolor=color,
            linewidth=1.6,
            zorder=3,
            label=f"{art.file} (file size, measured)",
        )
    if has_teacher:
        ax.scatter(
            teacher["params"] * 4 / 1024,
            teacher["test_accuracy"],
            s=140,
            marker="*",
            color="#111827",
            zorder=3,
            label="teacher (size estimated: params × 4 B)",
        )
    _head_lines(ax, data.subspace or {})
    ax.set_xscale("log")
    log_labels(ax.xaxis)
    ax.set_xlabel("size (KiB, log scale)")
    ax.set_ylabel("test accuracy (%), measured")
    ax.set_title("Accuracy vs size")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return True


def _head_lines(ax: Axes, sub: dict[str, Any]) -> None:
    """Heads on teacher features are accuracy references, not deployable sizes: draw lines."""
    for key, label, style in (
        ("full_head_accuracy", f"full head on teacher features (d={sub.get('d')})", "--"),
        ("compressed_head_accuracy", f"compressed head (k={sub.get('k')})", ":"),
    ):
        if fmt.is_number(sub.get(key)):
            ax.axhline(sub[key], color="#6b7280", linestyle=style, linewidth=1.1, label=label)


def _accuracy_compression(data: RunData, ax: Axes) -> bool:
    sweep = [s for s in data.sweep if _plottable(s.get("compression"), s.get("accuracy"))]
    if not sweep:
        return False
    methods = list(dict.fromkeys(str(s.get("method")) for s in sweep))
    for i, method in enumerate(methods):
        pts = sorted(
            (s["compression"], s["accuracy"]) for s in sweep if str(s.get("method")) == method
        )
        ax.plot(*zip(*pts, strict=True), marker="o", color=PALETTE[i % len(PALETTE)], label=method)
    sub = data.subspace or {}
    if _plottable(sub.get("compression"), sub.get("compressed_head_accuracy")):
        ax.scatter(
            sub["compression"],
            sub["compressed_head_accuracy"],
            s=160,
            marker="*",
            color="#111827",
            zorder=4,
            label=f"this run (k={sub.get('k')})",
        )
    if fmt.is_number(sub.get("full_head_accuracy")):
        ax.axhline(
            sub["full_head_accuracy"],
            color="#6b7280",
            linestyle="--",
            linewidth=1.1,
            label=f"full head (d={sub.get('d')})",
        )
    ax.set_xscale("log", base=2)
    ticker = require("matplotlib.ticker")
    ax.xaxis.set_major_locator(ticker.FixedLocator(sorted({s["compression"] for s in sweep})))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel("compression d/k (×, log scale)")
    ax.set_ylabel("head test accuracy (%), measured")
    ax.set_title("Head accuracy vs compression of teacher features")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return True


def _plottable(x: Any, y: Any) -> bool:
    return fmt.is_number(x) and fmt.is_number(y) and x > 0


_PLOTS: tuple[tuple[str, Callable[[RunData, Axes], bool]], ...] = (
    ("latency.png", _latency),
    ("energy.png", _energy),
    ("accuracy_vs_size.png", _accuracy_size),
    ("accuracy_vs_compression.png", _accuracy_compression),
)

# What each plot shows, for alt text and captions in the HTML report.
CAPTIONS = {
    "latency.png": "Latency per inference per artifact and device (ms, log scale). Solid bars "
    "are measured on this machine; hatched bars are estimates with their expected error.",
    "energy.png": "Energy per inference (mJ, log scale): the pale bar is the total, the dark "
    "part the dynamic energy above idle. Hatched bars are estimates.",
    "accuracy_vs_size.png": "Test accuracy (measured) against size: artifact file sizes "
    "(measured) and the teacher's fp32 weight size (estimated from its parameter count); "
    "lines mark the heads on teacher features.",
    "accuracy_vs_compression.png": "Head test accuracy (measured) against compression d/k of "
    "the teacher features, per projection method; the star is this run.",
    PARETO_PNG: PARETO_CAPTION,
}
