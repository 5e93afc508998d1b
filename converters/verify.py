"""Parity of an artifact with its source model on the test split.

fp32 files must reproduce the source logits (max |Δ| within ``fp32_tolerance``); reduced-precision
files cannot, so they are judged on what users care about: test accuracy may drop at most
``int8_max_accuracy_drop`` points below the source model. Without labels (a third-party ONNX file
verified on the user's inputs) the same number of points bounds top-1 disagreement with the
source instead. Top-1 agreement is reported for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.errors import ParityError

if TYPE_CHECKING:
    import torch

    from edgesub.config import ConvertConfig

EXACT_PRECISIONS = frozenset({"fp32"})
REFERENCE_BATCH = 256
# A raw output (an embedding, features: ``--outputs raw``) has no top class to agree on, and on
# generated inputs (no data given) top-1 agreement measures how near-ties break, not the model:
# there a reduced-precision file must keep this mean cosine similarity of its output rows with
# the source's (of the rows less their mean for logits and probabilities, whose common offset
# would make any two rows look alike).
RAW_KIND = "raw"
MIN_COSINE = 0.98


@dataclass(frozen=True)
class Reference:
    """Test inputs, labels (None when unknown), the source model's outputs and what they are
    (:mod:`edgesub.converters.outputs`: logits, probabilities or raw)."""

    x: np.ndarray
    y: np.ndarray | None
    logits: np.ndarray
    kind: str = "logits"
    synthetic: bool = False  # x was generated (no data given), not the user's inputs


def torch_reference(model: torch.nn.Module, x: np.ndarray, y: np.ndarray | None) -> Reference:
    """The source model's float32 outputs on ``x`` (call with the model in eval mode)."""
    torch = require("torch")
    with torch.no_grad():
        parts = [
            model(torch.from_numpy(x[i : i + REFERENCE_BATCH])).float().numpy()
            for i in range(0, len(x), REFERENCE_BATCH)
        ]
    return Reference(x=x, y=None if y is None else np.asarray(y), logits=np.concatenate(parts))


def accuracy(logits: np.ndarray, y: np.ndarray | None) -> float | None:
    """Top-1 accuracy in percent (None without labels)."""
    return None if y is None else float((logits.argmax(axis=1) == y).mean() * 100.0)


def parity(
    ref: Reference, candidate: np.ndarray, precision: str, cfg: ConvertConfig
) -> dict[str, Any]:
    """Compare artifact outputs with the reference; ``passed`` applies the precision's criterion."""
    reference, y = ref.logits, ref.y
    if candidate.shape != reference.shape:
        raise ParityError(
            f"artifact outputs have shape {candidate.shape}, the model gives {reference.shape}"
        )
    _check_finite(reference, candidate)
    max_abs_diff = float(np.abs(candidate - reference).max())
    reference_accuracy = accuracy(reference, y)
    candidate_accuracy = accuracy(candidate, y)
    agreement = float((candidate.argmax(1) == reference.argmax(1)).mean() * 100.0)
    drop = None if y is None else reference_accuracy - candidate_accuracy
    similarity = None
    if ref.kind == RAW_KIND or (ref.synthetic and drop is None):
        similarity = mean_cosine(candidate, reference, centred=ref.kind != RAW_KIND)
    if precision in EXACT_PRECISIONS:
        criterion, tolerance = "max_abs_diff", cfg.fp32_tolerance
        passed = max_abs_diff <= cfg.fp32_tolerance
    elif similarity is not None:
        criterion, tolerance = "cosine_similarity", MIN_COSINE
        passed = similarity >= MIN_COSINE
    elif drop is None:
        criterion, tolerance = "top1_agreement", cfg.int8_max_accuracy_drop
        passed = 100.0 - agreement <= tolerance
    else:
        criterion, tolerance = "accuracy_drop", cfg.int8_max_accuracy_drop
        passed = drop <= cfg.int8_max_accuracy_drop
    return {
        "max_abs_diff": max_abs_diff,
        "top1_agreement": agreement,
        "reference_accuracy": reference_accuracy,
        "accuracy": candidate_accuracy,
        "accuracy_drop": drop,
        "cosine_similarity": similarity,
        "criterion": criterion,
        "tolerance": tolerance,
        "passed": passed,
    }


def mean_cosine(candidate: np.ndarray, reference: np.ndarray, *, centred: bool = False) -> float:
    """Mean over samples of the cosine similarity of their flattened outputs (less each row's
    mean when ``centred``: then it is the rows' Pearson correlation)."""
    a = candidate.reshape(len(candidate), -1).astype(np.float64)
    b = reference.reshape(len(reference), -1).astype(np.float64)
    if centred:
        a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(((a * b).sum(axis=1) / np.maximum(norms, 1e-12)).mean())


def _check_finite(reference: np.ndarray, candidate: np.ndarray) -> None:
    """NaN or infinite outputs (NaN weights, overflow) fail outright, even with keep_failed: no
    tolerance can judge them, and no artifact that emits them is worth keeping."""
    if not np.isfinite(reference).all():
        raise ParityError(
            "the source model outputs NaN or infinity on the verification inputs "
            "(NaN weights or an overflow?); nothing can be verified against it"
        )
    if not np.isfinite(candidate).all():
        raise ParityError(
            "the artifact outputs NaN or infinity on the verification inputs where the source "
            "model does not (an overflow in reduced precision?)"
        )


def failure_message(artifact: str, result: dict[str, Any]) -> str:
    """One line naming the artifact and the numbers that missed the tolerance."""
    if result["criterion"] == "max_abs_diff":
        detail = f"max |Δlogits| {result['max_abs_diff']:.3g} > tolerance {result['tolerance']:.3g}"
    elif result["criterion"] == "cosine_similarity":
        detail = (
            f"mean cosine similarity with the source {result['cosine_similarity']:.4f} is below "
            f"{result['tolerance']:.2f} (raw outputs or generated inputs, so similarity is the "
            "criterion)"
        )
    elif result["criterion"] == "top1_agreement":
        detail = (
            f"top-1 agreement with the source {result['top1_agreement']:.2f}% is below "
            f"{100 - result['tolerance']:.2f}% (no labels, so agreement is the criterion)"
        )
    else:
        detail = (
            f"accuracy {result['accuracy']:.2f}% is {result['accuracy_drop']:.2f} points below "
            f"the source model's {result['reference_accuracy']:.2f}% "
            f"(allowed {result['tolerance']:.2f})"
        )
    return (
        f"{artifact} failed verification: {detail}; top-1 agreement "
        f"{result['top1_agreement']:.1f}% (set convert.keep_failed to keep it anyway)"
    )
