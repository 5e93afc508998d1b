"""The training story as PNGs: the student's loss and validation-accuracy curves with the
epoch early stopping kept, and the deployed student's confusion matrix on the test split.

Colours are from the Okabe-Ito palette (distinguishable with every common colour-vision
deficiency); the confusion matrix uses cividis, a map designed to read the same without red-green
vision, and prints the counts so no value rests on colour alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.report.canvas import OKABE_ITO, render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVES_PNG = "training.png"
CONFUSION_PNG = "confusion.png"
CAPTIONS = {
    CURVES_PNG: "The student's training loss (left axis, mean per epoch) and validation accuracy "
    "(right axis, %) per epoch; the dashed line marks the epoch whose weights were kept.",
    CONFUSION_PNG: "Confusion matrix of the deployed student on the test split (measured): rows "
    "are the true class, columns the predicted one, with the count in each cell.",
}


def training_plots(student: dict[str, Any] | None, folder: Path) -> list[Path]:
    """Write the curves and the confusion matrix the student record has data for."""
    student = student or {}
    history = [h for h in student.get("history") or [] if isinstance(h, dict)]
    confusion = student.get("confusion")
    labels = student.get("labels") or []
    written = [
        render(lambda fig: _curves(fig, history, student.get("best_epoch")), folder / CURVES_PNG),
        render(lambda fig: _confusion(fig, confusion, labels), folder / CONFUSION_PNG),
    ]
    return [path for path in written if path is not None]


def _curves(fig: Figure, history: list[dict[str, Any]], best_epoch: Any) -> bool:
    if not history:
        return False
    epochs = [h["epoch"] for h in history]
    loss_ax = fig.add_subplot()
    loss_ax.plot(epochs, [h.get("train_loss") for h in history], color=OKABE_ITO[0], marker="o",
                 markersize=3, label="training loss")  # fmt: skip
    loss_ax.set_xlabel("epoch")
    loss_ax.xaxis.set_major_locator(require("matplotlib.ticker").MaxNLocator(integer=True))
    loss_ax.set_ylabel("training loss (mean per epoch)")
    acc_ax = loss_ax.twinx()
    acc_ax.plot(epochs, [h.get("val_accuracy") for h in history], color=OKABE_ITO[1], marker="s",
                markersize=3, label="validation accuracy")  # fmt: skip
    acc_ax.set_ylabel("validation accuracy (%)")
    if isinstance(best_epoch, int) and best_epoch > 0:
        loss_ax.axvline(best_epoch, color="#000000", linestyle="--", linewidth=1,
                        label=f"kept: epoch {best_epoch}")  # fmt: skip
    handles = loss_ax.get_legend_handles_labels()[0] + acc_ax.get_legend_handles_labels()[0]
    loss_ax.legend(handles=handles, loc="center right")
    loss_ax.set_title("Student training: loss and validation accuracy per epoch")
    return True


def _confusion(fig: Figure, confusion: Any, labels: list[Any]) -> bool:
    if not isinstance(confusion, list) or not confusion:
        return False
    counts = [[int(v) for v in row] for row in confusion]
    n = len(counts)
    names = [str(x) for x in labels] if len(labels) == n else [str(i) for i in range(n)]
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="cividis")
    ax.grid(False)
    top = max(max(row) for row in counts) or 1
    if n <= 20:  # beyond that the numbers no longer fit their cells
        for i, row in enumerate(counts):
            for j, value in enumerate(row):
                shade = "#000000" if value > top / 2 else "#ffffff"
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color=shade)
    ax.set_xticks(range(n), names, rotation=90 if n > 10 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = sum(map(sum, counts))
    correct = sum(counts[i][i] for i in range(n))
    ax.set_title(f"Confusion matrix, test split: {correct} of {total} right")
    fig.colorbar(image, ax=ax, label="count")
    return True
