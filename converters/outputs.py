"""What a model's scored output means, so scores are softmaxed once and only when they are logits.

A model that already ends in a softmax (a Softmax op, or rows that are non-negative and sum to 1
on the verification data) gives probabilities; softmaxing them again flattens 0.9999 to 0.73.
The manifest records the kind (``model.output_kind``) and every reader scores through
:func:`scores`; a manifest without the field is read as logits, what older edgesub assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgesub._deps import require
from edgesub.registry import Registry

DEFAULT_KIND = "logits"  # a manifest without model.output_kind
SUM_TOLERANCE = 1e-3  # |row sum − 1| of float32 (or dequantised) probabilities
# ONNX ops that pass a tensor through unchanged, looked through to find a trailing Softmax.
_PASS_THROUGH = frozenset({"Identity", "Flatten", "Reshape", "Squeeze"})

# Kind → scores of one output row (float64), what predict, run.py and the bundles show.
SCORERS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("output kind")


@SCORERS.register("logits")
def _softmax(row: np.ndarray) -> np.ndarray:
    shifted = np.exp(row - row.max())
    return shifted / shifted.sum()


@SCORERS.register("probabilities")
@SCORERS.register("raw")
def _as_is(row: np.ndarray) -> np.ndarray:
    return row


def scores(row: np.ndarray, kind: str | None) -> np.ndarray:
    """One output row as the scores to rank and show (softmax only for logits)."""
    return SCORERS.get(kind or DEFAULT_KIND)(np.asarray(row, dtype=np.float64))


def output_kind(requested: str, outputs: np.ndarray, *, ends_in_softmax: bool = False) -> str:
    """``requested`` (a user's ``--outputs``), or for "auto" the kind the outputs show."""
    if requested != "auto":
        return requested
    if ends_in_softmax or _rows_are_distributions(outputs):
        return "probabilities"
    return DEFAULT_KIND if outputs.ndim == 2 and outputs.shape[1] > 1 else "raw"


def _rows_are_distributions(outputs: np.ndarray) -> bool:
    """Every row non-negative and summing to 1: what a softmax (or any normaliser) gives."""
    if outputs.ndim != 2 or outputs.shape[1] < 2 or not len(outputs):
        return False
    rows = outputs.astype(np.float64)
    return bool((rows >= 0).all() and np.abs(rows.sum(axis=1) - 1.0).max() <= SUM_TOLERANCE)


def onnx_ends_in_softmax(path: Path) -> bool:
    """Whether the file's first output is written by a Softmax (through reshape-like ops)."""
    onnx = require("onnx")
    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {name: node for node in graph.node for name in node.output}
    node = producers.get(graph.output[0].name) if graph.output else None
    while node is not None and node.op_type in _PASS_THROUGH:
        node = producers.get(node.input[0])
    return node is not None and node.op_type == "Softmax"
