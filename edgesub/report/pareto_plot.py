"""The Pareto plot: accuracy against latency and against energy, one colour per device.

Colour is the device, marker shape the artifact. Filled markers are on their device's Pareto
front (no other artifact on that device is at least as accurate, as fast and as frugal, and
better in one); red crosses mark pairs outside the budget. Without
accuracies (files edgesub did not make) the plot shows energy against latency instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.profile.compare import Budget, compare_records
from edgesub.report import fmt
from edgesub.report.canvas import PALETTE, log_labels, render
from edgesub.report.rundata import RunData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PARETO_PNG = "pareto.png"
PARETO_CAPTION = (
    "Accuracy (measured) against latency and energy per inference (log scales), one colour per "
    "device and one marker shape per artifact: filled markers are on that device's Pareto front, "
    "hollow ones are beaten by another artifact, red crosses miss the budget; dashed lines mark "
    "the latency and energy limits."
)
_AXIS_LABEL = {
    "latency_ms": "latency per inference (ms, log scale)",
    "energy_mj": "energy per inference (mJ, log scale)",
    "accuracy": "test accuracy (%), measured",
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "h", "<", ">", "p")
_LIMIT = {"latency_ms": "max_latency_ms", "energy_mj": "energy_mj"}


def comparison_of(data: RunData) -> dict[str, Any]:
    """The run's ``compare.json`` when `edgesub compare` wrote one, else a budget-free Pareto."""
    if data.compare and isinstance(data.compare.get("rows"), list):
        return data.compare
    return compare_records(data.records, Budget())


def write_pareto_plot(comparison: dict[str, Any], path: Path) -> Path | None:
    """Write the Pareto PNG of a comparison (:func:`compare_records`); None when nothing to plot."""
    return render(lambda fig: _draw(fig, comparison), Path(path))


def _plottable(row: dict[str, Any], *keys: str) -> bool:
    return all(fmt.is_number(row.get(k)) and row[k] > 0 for k in keys)


def _draw(fig: Figure, comparison: dict[str, Any]) -> bool:
    rows = [r for r in comparison.get("rows", []) if _plottable(r, "latency_ms")]
    if not rows:
        return False
    budget = comparison.get("budget") or {}
    devices = list(dict.fromkeys(str(r.get("device")) for r in rows))
    if any(fmt.is_number(r.get("accuracy")) for r in rows):
        panels = [("latency_ms", "accuracy"), ("energy_mj", "accuracy")]
    else:
        panels = [("latency_ms", "energy_mj")]
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (x_key, y_key) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        if y_key != "accuracy":
            ax.set_yscale("log")
        _scatter(ax, rows, devices, x_key, y_key)
        _limit_line(ax, budget.get(_LIMIT.get(x_key, "")))
        ax.set_xlabel(_AXIS_LABEL[x_key])
    axes[0].set_ylabel(_AXIS_LABEL[panels[0][1]])
    if panels[0][1] == "accuracy":
        _accuracy_limits(axes[0], [r["accuracy"] for r in rows if fmt.is_number(r.get("accuracy"))])
    fig.suptitle("Pareto front per device (filled = Pareto-optimal, red × = outside the budget)")
    _legend(axes[-1], devices, rows)
    return True


def _scatter(ax: Axes, rows: list[dict], devices: list[str], x_key: str, y_key: str) -> None:
    artifacts = list(dict.fromkeys(str(r.get("artifact")) for r in rows))
    for row in rows:
        if not _plottable(row, x_key, y_key):
            continue
        colour = PALETTE[devices.index(str(row.get("device"))) % len(PALETTE)]
        point = (row[x_key], row[y_key])
        ax.scatter(
            *point,
            s=60,
            marker=_marker(artifacts, row),
            facecolor=colour if row.get("pareto") else "none",
            edgecolor=colour,
            linewidth=1.4,
            zorder=3,
        )
        if not row.get("fits_budget", True):
            ax.scatter(*point, s=110, marker="x", color="#dc2626", linewidth=1.6, zorder=4)
    if x_key != "accuracy":
        log_labels(ax.xaxis)
    if y_key != "accuracy":
        log_labels(ax.yaxis)


def _marker(artifacts: list[str], row: dict[str, Any]) -> str:
    return _MARKERS[artifacts.index(str(row.get("artifact"))) % len(_MARKERS)]


def _accuracy_limits(ax: Axes, values: list[float]) -> None:
    """A little room around the accuracies, never above 100 % (equal values would span ±5)."""
    low, high = min(values), max(values)
    pad = max(0.5, 0.15 * (high - low))
    ax.set_ylim(low - pad, min(high + pad, 100.0 + pad / 4))


def _limit_line(ax: Axes, limit: Any) -> None:
    if fmt.is_number(limit):
        ax.axvline(limit, color="#dc2626", linestyle="--", linewidth=1.1)


def _legend(ax: Axes, devices: list[str], rows: list[dict]) -> None:
    lines = require("matplotlib.lines")
    names = {str(r.get("device")): str(r.get("device_name") or r.get("device")) for r in rows}
    artifacts = list(dict.fromkeys(str(r.get("artifact")) for r in rows))

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
    if not all(r.get("fits_budget", True) for r in rows):
        handles.append(entry("outside the budget", marker="x", color="#dc2626"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
