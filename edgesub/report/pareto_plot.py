"""The Pareto plot: accuracy against latency and against energy, one colour per device.

Colour is the device, marker shape the artifact. Filled markers are on their device's Pareto
front (no other artifact on that device is at least as accurate, as fast and as frugal, and
better in one); vermillion crosses mark pairs outside the budget. Without
accuracies (files edgesub did not make) the plot shows energy against latency instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.profile.compare import Budget, compare_records, pareto_flags
from edgesub.profile.recommend import recommend_from_records
from edgesub.report import fmt
from edgesub.report.canvas import ALERT, PALETTE, log_labels, render
from edgesub.report.rundata import RunData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from edgesub.profile.compare_record import CompareRecord, CompareRow

PARETO_PNG = "pareto.png"
PARETO_CAPTION = (
    "Accuracy (measured) against latency and energy per inference (log scales), one colour per "
    "device and one marker shape per artifact: filled markers are on that device's Pareto front, "
    "hollow ones are beaten by another artifact, vermillion crosses miss the budget; dashed "
    "lines mark the latency and energy limits."
)
_AXIS_LABEL = {
    "latency_ms": "latency per inference (ms, log scale)",
    "energy_mj": "energy per inference (mJ, log scale)",
    "accuracy": "test accuracy (%), measured",
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "h", "<", ">", "p")
_LIMIT = {"latency_ms": "max_latency_ms", "energy_mj": "energy_mj"}


def comparison_of(data: RunData) -> CompareRecord:
    """The run's ``compare.json`` when `edgesub compare` wrote one, else a budget-free Pareto;
    a compare.json written before recommendations gets them from the run's profile."""
    from edgesub.converters.recommend import candidates

    pool = candidates(data.manifest, data.run.artifacts) if data.manifest else None
    if data.compare is None:
        return compare_records(data.records, Budget(), pool)
    if not data.compare.recommendations and data.records:
        return data.compare.replace(recommendations=recommend_from_records(data.records, pool))
    return data.compare


def write_pareto_plot(comparison: CompareRecord, path: Path) -> Path | None:
    """Write the Pareto PNG of a comparison (:func:`compare_records`); None when nothing to plot."""
    return render(lambda fig: _draw(fig, comparison), Path(path))


def _plottable(row: CompareRow, *keys: str) -> bool:
    return all(fmt.is_number(getattr(row, k)) and getattr(row, k) > 0 for k in keys)


def _draw(fig: Figure, comparison: CompareRecord) -> bool:
    rows = [r for r in comparison.rows if _plottable(r, "latency_ms")]
    if not rows:
        return False
    budget = comparison.budget
    devices = list(dict.fromkeys(r.device for r in rows))
    # without a budget the plot still shows the trade-off: the front over every row
    front = [r.pareto for r in rows] if budget.is_set else pareto_flags(rows, lambda r: r.model)
    if any(fmt.is_number(r.accuracy) for r in rows):
        panels = [("latency_ms", "accuracy"), ("energy_mj", "accuracy")]
    else:
        panels = [("latency_ms", "energy_mj")]
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (x_key, y_key) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        if y_key != "accuracy":
            ax.set_yscale("log")
        _scatter(ax, rows, devices, x_key, y_key, front)
        _limit_line(ax, getattr(budget, _LIMIT[x_key]) if x_key in _LIMIT else None)
        ax.set_xlabel(_AXIS_LABEL[x_key])
    axes[0].set_ylabel(_AXIS_LABEL[panels[0][1]])
    if panels[0][1] == "accuracy":
        _accuracy_limits(axes[0], [r.accuracy for r in rows if r.accuracy is not None])
    fig.suptitle(
        "Pareto front per device (filled = Pareto-optimal, vermillion × = outside the budget)"
    )
    _legend(axes[-1], devices, rows)
    return True


def _scatter(
    ax: Axes, rows: list[CompareRow], devices: list[str], x_key: str, y_key: str, front: list[bool]
) -> None:
    artifacts = list(dict.fromkeys(r.artifact for r in rows))
    for row, on_front in zip(rows, front, strict=True):
        if not _plottable(row, x_key, y_key):
            continue
        colour = PALETTE[devices.index(row.device) % len(PALETTE)]
        point = (getattr(row, x_key), getattr(row, y_key))
        ax.scatter(
            *point,
            s=60,
            marker=_marker(artifacts, row),
            facecolor=colour if on_front else "none",
            edgecolor=colour,
            linewidth=1.4,
            zorder=3,
        )
        if not row.fits_budget:
            ax.scatter(*point, s=110, marker="x", color=ALERT, linewidth=1.6, zorder=4)
    if x_key != "accuracy":
        log_labels(ax.xaxis)
    if y_key != "accuracy":
        log_labels(ax.yaxis)


def _marker(artifacts: list[str], row: CompareRow) -> str:
    return _MARKERS[artifacts.index(row.artifact) % len(_MARKERS)]


def _accuracy_limits(ax: Axes, values: list[float]) -> None:
    """A little room around the accuracies, never above 100 % (equal values would span ±5)."""
    low, high = min(values), max(values)
    pad = max(0.5, 0.15 * (high - low))
    ax.set_ylim(low - pad, min(high + pad, 100.0 + pad / 4))


def _limit_line(ax: Axes, limit: Any) -> None:
    if fmt.is_number(limit):
        ax.axvline(limit, color=ALERT, linestyle="--", linewidth=1.1)


def _legend(ax: Axes, devices: list[str], rows: list[CompareRow]) -> None:
    lines = require("matplotlib.lines")
    names = {r.device: r.device_name or r.device for r in rows}
    artifacts = list(dict.fromkeys(r.artifact for r in rows))

    def entry(label: str, **style: Any) -> Any:
        return lines.Line2D([], [], linestyle="", label=label, **style)

    grey = "#374151"
    handles = [
        entry(names[d], marker="o", color=PALETTE[i % len(PALETTE)]) for i, d in enumerate(devices)
    ]
    handles += [
        entry(a, marker=_MARKERS[i % len(_MARKERS)], color=grey) for i, a in enumerate(artifacts)
    ]
    handles.append(
        entry("beaten by another artifact", marker="o", markerfacecolor="none", color=grey)
    )
    if not all(r.fits_budget for r in rows):
        handles.append(entry("outside the budget", marker="x", color=ALERT))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
