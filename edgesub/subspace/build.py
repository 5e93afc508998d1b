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
from edgesub.atomic import atomic_write_bytes, atomic_write_json
from edgesub.config import SubspaceConfig, to_dict
from edgesub.errors import ConfigError
from edgesub.subspace.head import LinearHead, Standardiser, fit_head
from edgesub.subspace.projections import DATA_AWARE, PROJECTIONS, project_matrix
from edgesub.teachers.features import Features, teacher_features
from edgesub.teachers.loaded import teacher_sha256

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


def build_subspace(
    run: RunDir, data: Dataset, cfg: SubspaceConfig, *, progress: bool = True
) -> dict[str, Any]:
    """Fit the compressed head (and the full head for comparison); return subspace.json.

    With ``cfg.auto_k`` the sweep of ``cfg.method`` picks k: the smallest swept k whose
    validation accuracy is within ``cfg.tolerance`` points of the full head's (validation, so
    the test split stays untouched by the choice).
    """
    cfg.validate()
    for name in cfg.methods:
        PROJECTIONS.get(name)
    started = time.perf_counter()
    feats = teacher_features(run, data, progress=progress)
    d = feats["train"].h.shape[1]
    full_std, full = full_head(feats, data.num_classes)
    sweep = sweep_compressions(feats, cfg, d, data.num_classes) if cfg.sweep or cfg.auto_k else []
    choice = choose_k(sweep, cfg.method, full.val_accuracy, cfg.tolerance) if cfg.auto_k else None
    k = choice["k"] if choice else cfg.resolve_k(d)
    subspace = fit_subspace(feats, cfg.method, k, cfg.seed, data.num_classes)
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
        "full_head_val_accuracy": full.val_accuracy,
        "compressed_head_val_accuracy": subspace.head.val_accuracy,
        "auto_k": choice,
        "sweep": sweep,
        "config": to_dict(cfg),
        "data": data.fingerprint(),  # distill checks it trains on the same data and teacher
        "teacher_sha256": teacher_sha256(run),
    }
    save_subspace(run, subspace, cfg.method, cfg.seed)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    atomic_write_json(run.subspace_json, summary)
    return summary


def choose_k(
    sweep: list[dict[str, Any]], method: str, full_val_accuracy: float, tolerance: float
) -> dict[str, Any]:
    """Smallest swept k of ``method`` within ``tolerance`` validation points of the full head;
    the largest k when none is (``met`` says which)."""
    rows = sorted((r for r in sweep if r["method"] == method), key=lambda r: r["k"])
    if not rows:
        raise ConfigError(f"auto_k found no sweep rows for method '{method}'")
    floor = full_val_accuracy - tolerance
    within = [r for r in rows if r["val_accuracy"] >= floor]
    pick = within[0] if within else rows[-1]
    return {
        "k": pick["k"],
        "compression": pick["compression"],
        "tolerance": tolerance,
        "full_head_val_accuracy": full_val_accuracy,
        "val_accuracy": pick["val_accuracy"],
        "met": bool(within),
    }


def fit_subspace(
    feats: dict[str, Features], method: str, k: int, seed: int, num_classes: int
) -> Subspace:
    """Project with ``method``, standardise on train, fit the head with L2 chosen on val."""
    train, val = feats["train"], feats["val"]
    projection = project_matrix(
        method, np.asarray(train.h), k, seed, labels=train.y, val=(np.asarray(val.h), val.y)
    )
    std = Standardiser.fit(np.asarray(train.h, dtype=np.float32) @ projection.T)
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
    atomic_write_bytes(run.subspace, safetensors_numpy.save(tensors, metadata=meta))


def load_subspace(run: RunDir) -> Subspace:
    """Read subspace.safetensors; a missing file names the command that writes it."""
    safetensors_numpy = require("safetensors.numpy")
    t = safetensors_numpy.load_file(str(run.require(run.subspace, "subspace")))
    head = LinearHead(t["head_weight"], t["head_bias"], l2=float("nan"), val_accuracy=float("nan"))
    return Subspace(t["projection"], Standardiser(t["feature_mean"], t["feature_std"]), head)


def _fit_on(
    feats: dict[str, Features], std: Standardiser, projection: np.ndarray, num_classes: int
) -> LinearHead:
    z = {n: std(np.asarray(f.h, dtype=np.float32) @ projection.T) for n, f in feats.items()}
    return fit_head(z["train"], feats["train"].y, z["val"], feats["val"].y, num_classes)


def _test_accuracy(subspace: Subspace, test: Features) -> float:
    return subspace.head.accuracy(subspace.coordinates(test.h), test.y)


def full_head(feats: dict[str, Features], num_classes: int) -> tuple[Standardiser, LinearHead]:
    """The head on every standardised teacher feature: what the compressed heads are measured
    against (and what ``auto_k`` stays within ``tolerance`` of)."""
    d = np.asarray(feats["train"].h).shape[1]
    std = Standardiser.fit(np.asarray(feats["train"].h))
    return std, _fit_on(feats, std, np.eye(d, dtype=np.float32), num_classes)


def sweep_compressions(
    feats: dict[str, Features], cfg: SubspaceConfig, d: int, num_classes: int
) -> list[dict[str, Any]]:
    """Compressed-head accuracy (test and validation) per method and compression ratio."""
    methods = list(dict.fromkeys((cfg.method, *cfg.methods)))
    ks = sorted({d // r for r in SWEEP_COMPRESSIONS if 1 <= d // r < d}, reverse=True)
    rows = []
    for method in methods:
        for k in ks:
            if method in DATA_AWARE and len(feats["train"].y) <= k:
                continue
            started = time.perf_counter()
            subspace = fit_subspace(feats, method, k, cfg.seed, num_classes)
            rows.append(
                {
                    "method": method,
                    "k": k,
                    "compression": d / k,
                    "accuracy": _test_accuracy(subspace, feats["test"]),
                    "val_accuracy": subspace.head.val_accuracy,
                    "fit_seconds": round(time.perf_counter() - started, 3),
                }
            )
    return rows


def sweep_table(summary: dict[str, Any]) -> list[list[str]]:
    """Rows (header first) of method × compression test accuracies for the terminal."""
    ratios = sorted({r["compression"] for r in summary["sweep"]})
    header = ["method", *[f"{r:g}×" for r in ratios]]
    rows = [header, ["full head", *[f"{summary['full_head_accuracy']:.2f}"] * len(ratios)]]
    for method in dict.fromkeys(r["method"] for r in summary["sweep"]):
        acc = {r["compression"]: r["accuracy"] for r in summary["sweep"] if r["method"] == method}
        rows.append([method, *[f"{acc[r]:.2f}" if r in acc else "-" for r in ratios]])
    return rows
