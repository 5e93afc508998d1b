"""One private Agg canvas per figure, written atomically: the house style of every plot.

matplotlib is imported inside functions (the ``report`` extra) and used through its
object-oriented API, never through pyplot, so writing plots from a notebook or a server changes
no global backend state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgesub._deps import require
from edgesub.atomic import atomic_path
from edgesub.report.fmt import number

if TYPE_CHECKING:
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

# Okabe & Ito's eight colours, distinguishable with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
# Series (devices) take every colour but vermillion, kept for marks of meaning (outside the
# budget) so a device's colour is never read as a verdict.
ALERT = OKABE_ITO[5]
PALETTE = tuple(c for c in OKABE_ITO if c != ALERT)
STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
}
DPI = 110


def render(draw: Callable[[Figure], bool], path: Path) -> Path | None:
    """Draw on a fresh figure and write it as PNG; None (and no file) when there is no data."""
    matplotlib = require("matplotlib")
    figure = require("matplotlib.figure")
    backend_agg = require("matplotlib.backends.backend_agg")
    with matplotlib.rc_context(STYLE):
        fig = figure.Figure(figsize=(9.6, 4.8), dpi=DPI, layout="constrained")
        backend_agg.FigureCanvasAgg(fig)
        if not draw(fig):
            path.unlink(missing_ok=True)  # a plot from an earlier state of the run would mislead
            return None
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path


def log_labels(axis: Axis) -> None:
    """Label a log axis at 1-2-5 steps with plain decimals (0.05, 0.2) instead of 5×10⁻²."""
    ticker = require("matplotlib.ticker")
    plain = ticker.FuncFormatter(lambda v, _: number(v, 2))
    axis.set_major_formatter(plain)
    axis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(plain)
