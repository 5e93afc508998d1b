"""The ``learned`` projection: a linear bottleneck d→k and a head trained together.

Trained with Adam on standardised train features (full batch: the feature matrices here are
small), early-stopped on validation loss; the returned matrix acts on raw features, because
the subspace stage standardises the projected coordinates again before fitting its head.
"""

from __future__ import annotations

import numpy as np

from edgesub._deps import require

MAX_EPOCHS = 200
PATIENCE = 10


def train_bottleneck(
    features: np.ndarray,
    labels: np.ndarray,
    k: int,
    seed: int,
    val: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """Return the k×d float32 bottleneck (in raw feature units) with the best val loss."""
    torch = require("torch")
    from edgesub.training.loop import TRAIN_THREADS, torch_threads

    h = np.asarray(features, dtype=np.float32)
    mean, std = h.mean(axis=0), h.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    val_h, val_y = val if val is not None else (h, labels)
    x = torch.from_numpy((h - mean) / std)
    xv = torch.from_numpy((np.asarray(val_h, dtype=np.float32) - mean) / std)
    y, yv = torch.from_numpy(labels), torch.from_numpy(np.asarray(val_y, dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    d, classes = h.shape[1], int(max(labels.max(), yv.max())) + 1
    bottleneck = torch.nn.Linear(d, k, bias=False)
    head = torch.nn.Linear(k, classes)
    with torch.no_grad():
        bottleneck.weight.copy_(torch.randn(k, d, generator=gen) / np.sqrt(d))
        head.weight.copy_(torch.randn(classes, k, generator=gen) / np.sqrt(k))
        head.bias.zero_()
    params = [*bottleneck.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2, weight_decay=1e-4)
    best, best_weight, stale = float("inf"), bottleneck.weight.detach().clone(), 0
    with torch_threads(TRAIN_THREADS):
        for _ in range(MAX_EPOCHS):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(bottleneck(x)), y).backward()
            opt.step()
            with torch.no_grad():
                loss = float(torch.nn.functional.cross_entropy(head(bottleneck(xv)), yv))
            if loss < best - 1e-5:
                best, best_weight, stale = loss, bottleneck.weight.detach().clone(), 0
            else:
                stale += 1
                if stale >= PATIENCE:
                    break
    return (best_weight.numpy() / std[None, :]).astype(np.float32)
