"""Projections R ∈ R^{k×d} from teacher features to a k-dim subspace, by registry name.

Each takes the train features (only data-aware methods look at them), k and a seed, and returns
a float32 k×d matrix; the same seed always gives the same matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgesub.registry import Registry

Projection = Callable[[np.ndarray, int, int], np.ndarray]
PROJECTIONS: Registry[Projection] = Registry("projection")


@PROJECTIONS.register("gaussian")
def gaussian(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The paper's data-independent map: R_ij ~ N(0, 1) / sqrt(k)."""
    rng = np.random.default_rng(seed)
    d = features.shape[1]
    return (rng.standard_normal((k, d)) / np.sqrt(k)).astype(np.float32)


@PROJECTIONS.register("sparse")
def sparse(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Very sparse random projection (Li, Hastie & Church 2006): s = sqrt(d), entries
    ±sqrt(s/k) with probability 1/(2s) each, else 0 — same distances in expectation, far fewer
    non-zeros."""
    rng = np.random.default_rng(seed)
    d = features.shape[1]
    s = np.sqrt(d)
    signs = rng.choice([-1.0, 0.0, 1.0], size=(k, d), p=[1 / (2 * s), 1 - 1 / s, 1 / (2 * s)])
    return (signs * np.sqrt(s / k)).astype(np.float32)


@PROJECTIONS.register("pca")
def pca(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Top-k principal directions of the train features (data-aware baseline; seed unused).

    Signs are fixed so the largest-magnitude entry of each direction is positive, which makes
    the result deterministic across LAPACK builds."""
    centred = np.asarray(features, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    directions = vt[:k]
    flip = np.sign(directions[np.arange(len(directions)), np.abs(directions).argmax(axis=1)])
    return (directions * flip[:, None]).astype(np.float32)
