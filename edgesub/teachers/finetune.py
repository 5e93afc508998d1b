"""Fine-tune the tail of a teacher on the task: the paper's regime is a task-trained teacher.

The frozen prefix runs once and its outputs are cached in memory (on a CPU this is what makes
fine-tuning a pretrained network affordable); the tail (last blocks + head) trains with AdamW
and a cosine schedule, keeping the weights with the best validation accuracy.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from edgesub._deps import require

if TYPE_CHECKING:
    import torch
    from torch import nn


def run_in_batches(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """``fn`` over ``x`` in eval batches without gradients (prefix caching, feature export)."""
    torch = require("torch")
    with torch.no_grad():
        return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def finetune_tail(
    trainable: nn.Module,
    logits: Callable[[torch.Tensor], torch.Tensor],
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> dict[str, float]:
    """Train the parameters of ``trainable`` (only those with requires_grad) through
    ``logits`` on cached prefix outputs; restore the best-validation weights."""
    torch = require("torch")
    from edgesub.training.loop import TRAIN_THREADS, torch_threads

    torch.manual_seed(seed)
    params = [p for p in trainable.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-len(train[1]) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    best, best_state, started = -1.0, None, time.perf_counter()
    with torch_threads(TRAIN_THREADS):
        for _ in range(epochs):
            trainable.train()
            for idx in torch.randperm(len(train[1])).split(batch_size):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(
                    logits(train[0][idx]), train[1][idx], label_smoothing=0.05
                )
                loss.backward()
                opt.step()
                schedule.step()
            trainable.eval()
            pred = run_in_batches(logits, val[0]).argmax(dim=1)
            acc = 100.0 * float((pred == val[1]).float().mean())
            if acc > best:
                best, best_state = acc, copy.deepcopy(trainable.state_dict())
    assert best_state is not None
    trainable.load_state_dict(best_state)
    trainable.eval()
    return {"val_accuracy": best, "train_seconds": round(time.perf_counter() - started, 3)}
