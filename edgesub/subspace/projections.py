"""Projections R ∈ R^{k×d} from teacher features to a k-dim subspace, by registry name.

Each takes the train features, k, a seed and (for class-aware methods) the train labels and the
validation split, and returns a float32 k×d matrix; the same inputs always give the same matrix.
Random methods ignore the data; ``pca`` looks at the features; ``lda`` and ``learned`` also use
the labels, which is what frozen generic features need (see ``lda``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edgesub.errors import ConfigError, DataError
from edgesub.registry import Registry


class Projection(Protocol):
    def __call__(
        self,
        features: np.ndarray,
        k: int,
        seed: int,
        labels: np.ndarray | None = None,
        val: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray: ...


PROJECTIONS: Registry[Projection] = Registry("projection")
# Methods that need the train labels (and use the validation split when given).
SUPERVISED = frozenset({"lda", "learned"})
# Methods whose directions come from the sample covariance: they need n > k train samples.
DATA_AWARE = frozenset({"pca", "lda", "learned"})


def project_matrix(
    method: str,
    features: np.ndarray,
    k: int,
    seed: int,
    labels: np.ndarray | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Validate k, the sample count and the labels once, then build ``method``'s matrix."""
    fn = PROJECTIONS.get(method)
    n, d = features.shape
    if not 1 <= k < d:
        raise ConfigError(f"subspace k={k} must satisfy 1 <= k < d={d}")
    if method in DATA_AWARE and n <= k:
        raise DataError(
            f"{method} needs more train samples than k: got n={n} samples for k={k}; "
            "lower k or use a random projection (gaussian, sparse)"
        )
    if method in SUPERVISED:
        check_labels(labels, n, method)
    return fn(features, k, seed, labels=labels, val=val)


def check_labels(labels: np.ndarray | None, n: int, what: str) -> np.ndarray:
    """Class-aware fitting needs one integer label per sample and at least two classes."""
    if labels is None:
        raise DataError(f"{what} needs the train labels, but none were given")
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise DataError(f"{what} got {labels.shape[0]} labels for {n} samples")
    if np.unique(labels).size < 2:
        raise DataError(f"{what} needs at least two classes; the labels hold one ({labels[0]})")
    return labels.astype(np.int64)


@PROJECTIONS.register("gaussian")
def gaussian(features: np.ndarray, k: int, seed: int, **_: object) -> np.ndarray:
    """The paper's data-independent map: R_ij ~ N(0, 1) / sqrt(k)."""
    rng = np.random.default_rng(seed)
    d = features.shape[1]
    return (rng.standard_normal((k, d)) / np.sqrt(k)).astype(np.float32)


@PROJECTIONS.register("sparse")
def sparse(features: np.ndarray, k: int, seed: int, **_: object) -> np.ndarray:
    """Very sparse random projection (Li, Hastie & Church 2006): s = sqrt(d), entries
    ±sqrt(s/k) with probability 1/(2s) each, else 0 — same distances in expectation, far fewer
    non-zeros."""
    rng = np.random.default_rng(seed)
    d = features.shape[1]
    s = np.sqrt(d)
    signs = rng.choice([-1.0, 0.0, 1.0], size=(k, d), p=[1 / (2 * s), 1 - 1 / s, 1 / (2 * s)])
    return (signs * np.sqrt(s / k)).astype(np.float32)


@PROJECTIONS.register("pca")
def pca(features: np.ndarray, k: int, seed: int, **_: object) -> np.ndarray:
    """Top-k principal directions of the train features (data-aware baseline; seed unused)."""
    centred = np.asarray(features, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    return _fix_signs(_top_directions(centred, k)).astype(np.float32)


@PROJECTIONS.register("lda")
def lda(
    features: np.ndarray, k: int, seed: int, labels: np.ndarray | None = None, **_: object
) -> np.ndarray:
    """Class-aware subspace for frozen generic features: shrinkage-LDA directions, then PCA.

    A generic (e.g. ImageNet) feature space spends most of its variance on things the task does
    not care about, so a random or variance-ranked k-subspace keeps a lot of noise. The
    between-class directions whitened by the within-class scatter (Fisher's discriminants,
    at most C−1 of them) are exactly what a linear head needs; when k > C−1 the rest is filled
    with the top principal directions of what those discriminants leave unexplained. The
    within-class scatter is shrunk towards a scaled identity (10 %), so d > n works.
    """
    labels = check_labels(labels, len(features), "lda")
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    discriminants = _fisher_directions(x, labels, k)
    if len(discriminants) >= k:
        return _fix_signs(discriminants[:k]).astype(np.float32)
    basis, _ = np.linalg.qr(discriminants.T)
    residual = x - (x @ basis) @ basis.T
    topup = _top_directions(residual, k - len(discriminants))
    return _fix_signs(np.vstack([discriminants, topup])).astype(np.float32)


@PROJECTIONS.register("learned")
def learned(
    features: np.ndarray,
    k: int,
    seed: int,
    labels: np.ndarray | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    **_: object,
) -> np.ndarray:
    """A trainable k×d linear bottleneck trained jointly with a linear head (the paper's
    "learned projection" baseline): Adam on the train split, early-stopped on validation."""
    from edgesub.subspace.learned import train_bottleneck

    labels = check_labels(labels, len(features), "learned")
    return train_bottleneck(features, labels, k, seed, val)


def _fisher_directions(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Up to min(C−1, k) unit-norm discriminant directions of centred ``x`` (rows)."""
    n, d = x.shape
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    means = np.zeros((len(classes), d))
    np.add.at(means, inverse, x)
    means /= counts[:, None]
    within = x - means[inverse]
    scatter = within.T @ within / n
    shrink = 0.1
    scatter = (1 - shrink) * scatter + shrink * np.trace(scatter) / d * np.eye(d)
    evals, evecs = np.linalg.eigh(scatter)
    inv_sqrt = (evecs / np.sqrt(np.maximum(evals, 1e-12))) @ evecs.T
    between = (means * np.sqrt(counts / n)[:, None]) @ inv_sqrt
    _, sv, vt = np.linalg.svd(between, full_matrices=False)
    r = min(k, len(classes) - 1, int((sv > sv[0] * 1e-8).sum()))
    directions = vt[:r] @ inv_sqrt
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def _top_directions(centred: np.ndarray, k: int) -> np.ndarray:
    """Top-k right singular vectors; via the d×d covariance when n ≫ d (much faster)."""
    n, d = centred.shape
    if n > 2 * d:
        _, evecs = np.linalg.eigh(centred.T @ centred)
        return evecs[:, ::-1][:, :k].T
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:k]


def _fix_signs(directions: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each row positive: deterministic across LAPACKs."""
    flip = np.sign(directions[np.arange(len(directions)), np.abs(directions).argmax(axis=1)])
    return directions * flip[:, None]
