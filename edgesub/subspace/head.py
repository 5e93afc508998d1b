"""Multinomial logistic-regression heads on standardised features, L2 chosen on validation.

The objective is convex, so full-batch L-BFGS in float64 reaches the same optimum every time:
fitting is deterministic and fast enough to sweep projections and k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesub._deps import require

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
    from edgesub.distill.loop import TRAIN_THREADS, torch_threads

    best: tuple[float, float, LinearHead] | None = None
    weight = np.zeros((num_classes, z_train.shape[1]), dtype=np.float64)
    bias = np.zeros(num_classes, dtype=np.float64)
    for l2 in grid:
        with torch_threads(TRAIN_THREADS):
            weight, bias = _fit_lbfgs(z_train, y_train, l2, weight, bias)
        logits = z_val @ weight.T + bias
        acc = 100.0 * float((logits.argmax(axis=1) == y_val).mean())
        loss = _cross_entropy(logits, y_val)
        if best is None or (acc, -loss) > (best[0], -best[1]):
            head = LinearHead(weight.astype(np.float32), bias.astype(np.float32), l2, acc)
            best = (acc, loss, head)
    assert best is not None
    return best[2]


def _fit_lbfgs(
    z: np.ndarray, y: np.ndarray, l2: float, weight0: np.ndarray, bias0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise mean cross-entropy + l2/2·||W||² from (weight0, bias0) in float64."""
    torch = require("torch")
    x = torch.from_numpy(np.asarray(z, dtype=np.float64))
    t = torch.from_numpy(np.asarray(y, dtype=np.int64))
    weight = torch.tensor(weight0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(bias0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=200,
        tolerance_grad=1e-6,
        tolerance_change=1e-10,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, t)
        loss = loss + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return weight.detach().numpy(), bias.detach().numpy()


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())
