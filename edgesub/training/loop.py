"""One training loop for teachers and students: AdamW + cosine, early stopping, resumable.

A checkpoint of plain tensors and numbers is written atomically after every epoch, so Ctrl-C at
any point leaves the last completed epoch on disk, and ``resume=True`` continues from it. The
checkpoint records the configuration it belongs to; resuming under another one is refused.
Under data-parallel training (:mod:`edgesub.training.ddp`) every rank runs this loop on its rows
of each global minibatch; rank 0 validates, decides for all, and writes the checkpoints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.errors import RunDirError
from edgesub.torch_files import load_weights, save_torch
from edgesub.training.ddp import SINGLE, Dist

if TYPE_CHECKING:
    import torch

BatchHook = Callable[[int, int], None]
# step_loss(batch indices, this rank's rows of the batch) -> mean loss over those rows
StepLoss = Callable[["torch.Tensor", slice], "torch.Tensor"]

# The models trained here are tiny: one thread was faster than two on a 2-core machine (thread
# hand-off costs more than the convolutions), and it leaves a core for the rest of the system.
TRAIN_THREADS = 1


@dataclass(frozen=True)
class LoopConfig:
    """What the loop needs from a TeacherConfig or DistillConfig."""

    label: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    seed: int


@dataclass(frozen=True)
class FitResult:
    best_val_accuracy: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    # per epoch: {"epoch", "train_loss" (mean over its steps), "val_accuracy" (%)}
    history: tuple[dict[str, Any], ...] = ()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads, restoring the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch_threads(TRAIN_THREADS)
def fit(
    model: torch.nn.Module,
    step_loss: StepLoss,
    val_accuracy: Callable[[], float],
    n_train: int,
    cfg: LoopConfig,
    checkpoint: Path,
    fingerprint: dict[str, Any],
    *,
    resume: bool = False,
    progress: bool = True,
    on_batch: BatchHook | None = None,
    dist: Dist = SINGLE,
) -> FitResult:
    """Train ``model`` on minibatch index tensors; leave it holding its best-validation weights.

    ``step_loss(indices, rows)`` returns the mean loss over this rank's ``rows`` of one
    minibatch (all of them in one process); ``on_batch(epoch, step)`` runs before each step
    (progress hooks, tests that interrupt training).
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = -(-n_train // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    state = _fresh_state(model, fingerprint)
    if resume and checkpoint.exists():
        state = _load_checkpoint(checkpoint, fingerprint)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    with _bar(cfg.label, cfg.epochs, state["epoch"], progress and dist.main) as advance:
        while state["epoch"] < cfg.epochs and not state["stopped"]:
            started = time.perf_counter()
            model.train()
            losses: list[float] = []
            for step, idx in enumerate(
                torch.randperm(n_train, generator=gen).split(cfg.batch_size)
            ):
                if on_batch is not None:
                    on_batch(state["epoch"], step)
                if len(idx) < max(2, dist.world):  # batch norm needs 2 samples, ranks 1 each
                    continue
                rows = dist.rows(len(idx))
                # DDP averages gradients over ranks: weigh each rank's mean by its share of rows
                share = len(range(len(idx))[rows]) * dist.world / len(idx)
                loss = step_loss(idx, rows) * share
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()) / share)
            model.eval()
            with torch.no_grad():
                acc = dist.broadcast(val_accuracy() if dist.main else 0.0)
            _end_epoch(state, model, acc, cfg.patience, time.perf_counter() - started)
            state["history"].append(_epoch_line(state["epoch"], losses, acc))
            state.update(
                model=_copy(model.state_dict()),
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                generator=gen.get_state(),
                torch_rng=torch.get_rng_state(),
            )
            if dist.main:
                save_torch(state, checkpoint)
            advance(f"val {acc:.2f}% (best {state['best_val']:.2f}%)")
    model.load_state_dict(state["best_model"])
    model.eval()
    return FitResult(
        state["best_val"],
        state["best_epoch"],
        state["epoch"],
        state["seconds"],
        tuple(state["history"]),
    )


def _epoch_line(epoch: int, losses: list[float], val_accuracy: float) -> dict[str, Any]:
    mean = round(sum(losses) / len(losses), 6) if losses else None
    return {"epoch": epoch, "train_loss": mean, "val_accuracy": round(val_accuracy, 4)}


def accuracy(
    model: torch.nn.Module, x: Any, y: Any, batch_size: int = 512, device: str = "cpu"
) -> float:
    """Top-1 accuracy in percent of ``model`` on numpy inputs, in eval mode."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(torch.from_numpy(x[start : start + batch_size]).to(device)).cpu()
            correct += int((logits.argmax(1).numpy() == y[start : start + batch_size]).sum())
    return 100.0 * correct / len(y)


def confusion_matrix(
    model: torch.nn.Module, x: Any, y: Any, classes: int, batch_size: int = 512
) -> list[list[int]]:
    """Counts of (true class, predicted class) on numpy inputs, rows the true class."""
    import torch

    counts = np.zeros((classes, classes), dtype=np.int64)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(torch.from_numpy(x[start : start + batch_size])).cpu()
            predicted = logits.argmax(1).numpy()
            np.add.at(counts, (np.asarray(y[start : start + batch_size]), predicted), 1)
    return counts.tolist()


def _fresh_state(model: torch.nn.Module, fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {
        "fingerprint": _canonical(fingerprint),
        "epoch": 0,
        "stopped": False,
        "best_val": -1.0,
        "best_epoch": 0,
        "bad_epochs": 0,
        "seconds": 0.0,
        "history": [],
        "best_model": _copy(model.state_dict()),
    }


def _end_epoch(state: dict[str, Any], model: Any, acc: float, patience: int, secs: float) -> None:
    """Book-keeping after an epoch: best weights, patience counter, elapsed time."""
    state["epoch"] += 1
    state["seconds"] += secs
    if acc > state["best_val"]:
        state.update(best_val=acc, best_epoch=state["epoch"], bad_epochs=0)
        state["best_model"] = _copy(model.state_dict())
    else:
        state["bad_epochs"] += 1
    state["stopped"] = state["bad_epochs"] >= patience


def _load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    state = load_weights(path, "the checkpoint to resume from")
    if not isinstance(state, dict) or state.get("fingerprint") != _canonical(fingerprint):
        raise RunDirError(
            f"cannot resume from {path}: it was written with a different configuration; "
            "run without --resume to start over"
        )
    state.setdefault("history", [])  # checkpoints written before the per-epoch history
    return state


def _canonical(fingerprint: dict[str, Any]) -> str:
    return json.dumps(fingerprint, sort_keys=True, default=str)


def _copy(state_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in state_dict.items()}


@contextmanager
def _bar(label: str, total: int, done: int, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar over epochs; a no-op when ``enabled`` is False."""
    if not enabled:
        yield lambda _status: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
    )
    from edgesub.console import err

    with Progress(*columns, transient=False, console=err) as bar:  # stdout is for data
        task = bar.add_task(label, total=total, completed=done, status="")
        yield lambda status: bar.update(task, advance=1, status=status)
