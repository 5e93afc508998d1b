"""Multinomial logistic-regression heads on standardised features, L2 chosen on validation.

The objective is convex, so full-batch L-BFGS (float64 parameters, float32 matrix products,
analytic gradient) reaches the same optimum every time: fitting is deterministic and fast
enough to sweep projections and k. A train matrix larger
than memory is fitted the same way, with the loss and gradient summed over row chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from edgesub._deps import require
from edgesub.subspace.projections import check_labels
from edgesub.subspace.stream import NpyRows, Transform

Chunks = Callable[[], Iterator[tuple[int, np.ndarray]]]

# Strongest first: each fit warm-starts the next, weaker one, which converges in far fewer steps.
L2_GRID = (1e-1, 1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class Standardiser:
    """Per-dimension mean/std from the train split; constant dimensions keep std 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, z: np.ndarray) -> Standardiser:
        mean = z.mean(axis=0, dtype=np.float64)
        std = z.std(axis=0, dtype=np.float64)
        std = np.where(std > 1e-6, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return ((z - self.mean) / self.std).astype(np.float32)


@dataclass(frozen=True)
class LinearHead:
    """logits = z @ weight.T + bias on standardised z; ``l2`` is the chosen regulariser."""

    weight: np.ndarray
    bias: np.ndarray
    l2: float
    val_accuracy: float

    def logits(self, z: np.ndarray) -> np.ndarray:
        return z @ self.weight.T + self.bias

    def accuracy(self, z: np.ndarray, y: np.ndarray) -> float:
        return 100.0 * float((self.logits(z).argmax(axis=1) == y).mean())

    @property
    def params(self) -> int:
        return int(self.weight.size + self.bias.size)


def fit_head(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_val: np.ndarray,
    y_val: np.ndarray,
    num_classes: int,
    grid: tuple[float, ...] = L2_GRID,
) -> LinearHead:
    """Fit one head per L2 strength; keep the best on validation (accuracy, then loss)."""
    check_labels(y_train, len(z_train), "the head")
    x = np.ascontiguousarray(z_train, dtype=np.float32)
    return _select_l2(lambda: iter([(0, x)]), y_train, z_val, y_val, num_classes, grid)


def fit_head_streaming(
    rows: NpyRows,
    y_train: np.ndarray,
    z_val: np.ndarray,
    y_val: np.ndarray,
    num_classes: int,
    transform: Transform | None = None,
    grid: tuple[float, ...] = L2_GRID,
) -> LinearHead:
    """Like :func:`fit_head` for a train matrix on disk: every L-BFGS step sums the exact
    full-batch loss and gradient over row chunks, so only one chunk is ever in memory and the
    optimum is the same as in-memory fitting (not a stochastic approximation)."""
    check_labels(y_train, len(rows), "the head")
    return _select_l2(lambda: rows.chunks(transform), y_train, z_val, y_val, num_classes, grid)


def _select_l2(
    chunks: Chunks,
    y_train: np.ndarray,
    z_val: np.ndarray,
    y_val: np.ndarray,
    num_classes: int,
    grid: tuple[float, ...],
) -> LinearHead:
    threadpoolctl = require("threadpoolctl", "train")
    best: tuple[float, float, LinearHead] | None = None
    params = np.zeros(num_classes * (z_val.shape[1] + 1), dtype=np.float64)
    for l2 in grid:
        # One BLAS thread: these thin matrix products gain nothing from more, and on a busy
        # machine oversubscribed BLAS threads made a fit 5× slower.
        with threadpoolctl.threadpool_limits(limits=1):
            params = _fit_lbfgs(
                chunks, np.asarray(y_train, dtype=np.int64), l2, num_classes, params
            )
        weight, bias = _unpack(params, num_classes)
        logits = np.asarray(z_val, dtype=np.float64) @ weight.T + bias
        acc = 100.0 * float((logits.argmax(axis=1) == y_val).mean())
        loss = _cross_entropy(logits, y_val)
        if best is None or (acc, -loss) > (best[0], -best[1]):
            head = LinearHead(weight.astype(np.float32), bias.astype(np.float32), l2, acc)
            best = (acc, loss, head)
    assert best is not None
    return best[2]


def _fit_lbfgs(
    chunks: Chunks, y: np.ndarray, l2: float, num_classes: int, params0: np.ndarray
) -> np.ndarray:
    """Minimise mean cross-entropy + l2/2·||W||² from ``params0`` with scipy's L-BFGS-B, an
    analytic gradient and float32 products (half the matrix cost of float64; with warm starts
    along the grid this is what beats sklearn); loss and gradient are summed over ``chunks()``."""
    optimize = require("scipy.optimize", "train")
    n = len(y)

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        weight, bias = _unpack(params, num_classes)
        w32 = weight.astype(np.float32)
        grad_w = l2 * weight
        grad_b = np.zeros_like(bias)
        total = 0.5 * l2 * float((weight * weight).sum())
        for start, x in chunks():
            t = y[start : start + len(x)]
            logits = (x @ w32.T).astype(np.float64) + bias
            logits -= logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            norm = exp.sum(axis=1, keepdims=True)
            total -= float((logits[np.arange(len(t)), t] - np.log(norm[:, 0])).sum()) / n
            delta = exp / norm
            delta[np.arange(len(t)), t] -= 1.0
            grad_w += (delta.astype(np.float32).T @ x).astype(np.float64) / n
            grad_b += delta.sum(axis=0) / n
        return total, np.concatenate([grad_w.ravel(), grad_b])

    result = optimize.minimize(
        loss_and_grad,
        params0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 500, "gtol": 1e-4, "ftol": 1e-12, "maxcor": 20},
    )
    return result.x


def _unpack(params: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    weight = params[:-num_classes].reshape(num_classes, -1)
    return weight, params[-num_classes:]


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())
