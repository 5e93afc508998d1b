"""The subspace stage: project teacher features to k dims and fit the compressed head.

Writes ``subspace.safetensors`` (projection, the standardisation of the projected features, head)
and ``subspace.json`` (accuracies of the full d-dim head and the compressed head, and a sweep of
compression ratios). The student later regresses the same standardised coordinates the head
reads, so head ∘ student needs no extra rescaling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.atomic import atomic_path, atomic_write_json
from edgesub.config import SubspaceConfig, to_dict
from edgesub.subspace.features import Features, teacher_features
from edgesub.subspace.head import LinearHead, Standardiser, fit_head
from edgesub.subspace.projections import PROJECTIONS

if TYPE_CHECKING:
    from edgesub.data import Dataset
    from edgesub.rundir import RunDir

SWEEP_COMPRESSIONS = (2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Subspace:
    """A fitted projection + standardisation + head, as stored in subspace.safetensors."""

    projection: np.ndarray
    standardiser: Standardiser
    head: LinearHead

    def coordinates(self, h: np.ndarray) -> np.ndarray:
        """Standardised subspace coordinates (P·h − μ)/σ: the student's regression target."""
        return self.standardiser(np.asarray(h, dtype=np.float32) @ self.projection.T)


def compress(
    run: RunDir, data: Dataset, cfg: SubspaceConfig, *, progress: bool = True
) -> dict[str, Any]:
    """Fit the compressed head (and the full head for comparison); return subspace.json."""
    cfg.validate()
    started = time.perf_counter()
    feats = teacher_features(run, data, progress=progress)
    d = feats["train"].h.shape[1]
    k = cfg.resolve_k(d)
    subspace = fit_subspace(feats, cfg.method, k, cfg.seed, data.num_classes)
    full_std = Standardiser.fit(np.asarray(feats["train"].h))
    full = _fit_on(feats, full_std, np.eye(d, dtype=np.float32), data.num_classes)
    summary = {
        "method": cfg.method,
        "seed": cfg.seed,
        "d": d,
        "k": k,
        "compression": d / k,
        "full_head_accuracy": full.accuracy(full_std(feats["test"].h), feats["test"].y),
        "compressed_head_accuracy": _test_accuracy(subspace, feats["test"]),
        "full_head_params": full.params,
        "compressed_head_params": subspace.head.params,
        "full_head_l2": full.l2,
        "compressed_head_l2": subspace.head.l2,
        "compressed_head_val_accuracy": subspace.head.val_accuracy,
        "sweep": _sweep(feats, cfg, d, data.num_classes) if cfg.sweep else [],
        "config": to_dict(cfg),
    }
    save_subspace(run, subspace, cfg.method, cfg.seed)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    atomic_write_json(run.subspace_json, summary)
    return summary


def fit_subspace(
    feats: dict[str, Features], method: str, k: int, seed: int, num_classes: int
) -> Subspace:
    """Project with ``method``, standardise on train, fit the head with L2 chosen on val."""
    projection = PROJECTIONS.get(method)(np.asarray(feats["train"].h), k, seed)
    std = Standardiser.fit(np.asarray(feats["train"].h, dtype=np.float32) @ projection.T)
    return Subspace(projection, std, _fit_on(feats, std, projection, num_classes))


def save_subspace(run: RunDir, subspace: Subspace, method: str, seed: int) -> None:
    safetensors_numpy = require("safetensors.numpy")
    tensors = {
        "projection": subspace.projection,
        "feature_mean": subspace.standardiser.mean,
        "feature_std": subspace.standardiser.std,
        "head_weight": subspace.head.weight,
        "head_bias": subspace.head.bias,
    }
    meta = {"method": method, "seed": str(seed), "k": str(len(subspace.projection))}
    with atomic_path(run.subspace) as tmp:
        safetensors_numpy.save_file(tensors, str(tmp), metadata=meta)


def load_subspace(run: RunDir) -> Subspace:
    """Read subspace.safetensors; a missing file names the command that writes it."""
    safetensors_numpy = require("safetensors.numpy")
    t = safetensors_numpy.load_file(str(run.require(run.subspace, "compress")))
    head = LinearHead(t["head_weight"], t["head_bias"], l2=float("nan"), val_accuracy=float("nan"))
    return Subspace(t["projection"], Standardiser(t["feature_mean"], t["feature_std"]), head)


def _fit_on(
    feats: dict[str, Features], std: Standardiser, projection: np.ndarray, num_classes: int
) -> LinearHead:
    z = {n: std(np.asarray(f.h, dtype=np.float32) @ projection.T) for n, f in feats.items()}
    return fit_head(z["train"], feats["train"].y, z["val"], feats["val"].y, num_classes)


def _test_accuracy(subspace: Subspace, test: Features) -> float:
    return subspace.head.accuracy(subspace.coordinates(test.h), test.y)


def _sweep(
    feats: dict[str, Features], cfg: SubspaceConfig, d: int, num_classes: int
) -> list[dict[str, Any]]:
    """Compressed-head test accuracy of ``cfg.method`` across compression ratios."""
    rows = []
    for ratio in SWEEP_COMPRESSIONS:
        k = d // ratio
        if not 1 <= k < d:
            continue
        subspace = fit_subspace(feats, cfg.method, k, cfg.seed, num_classes)
        rows.append(
            {
                "method": cfg.method,
                "k": k,
                "compression": d / k,
                "accuracy": _test_accuracy(subspace, feats["test"]),
            }
        )
    return rows
