"""Train the task teacher once per run directory and cache it (safetensors + json)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.atomic import atomic_write_bytes, atomic_write_json
from edgesub.config import TeacherConfig, to_dict
from edgesub.errors import RunDirError
from edgesub.jsonfile import read_json_or_empty
from edgesub.teachers.given import data_notes
from edgesub.teachers.registry import TEACHERS
from edgesub.training.augment import random_shift
from edgesub.training.loop import BatchHook, LoopConfig, accuracy, fit

if TYPE_CHECKING:
    import torch

    from edgesub.data import Dataset
    from edgesub.rundir import RunDir


def train_teacher(
    run: RunDir,
    data: Dataset,
    cfg: TeacherConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_batch: BatchHook | None = None,
) -> dict[str, Any]:
    """Train (or reuse the cached) teacher for ``data``; return teacher.json's contents."""
    torch = require("torch")
    cfg.validate()
    fingerprint = {"teacher": to_dict(cfg), "data": data.fingerprint()}
    cached = _cached(run, fingerprint)
    if cached is not None:
        return cached
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = TEACHERS.get(cfg.arch)(cfg.feature_dim, data.input_shape, data.num_classes)
    x, y = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    result = fit(
        model,
        lambda idx, _rows: loss_fn(model(random_shift(x[idx])), y[idx]),
        lambda: accuracy(model, data.val.x, data.val.y),
        len(y),
        LoopConfig(
            "teacher", cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.epochs, cfg.seed
        ),
        run.checkpoints / "teacher.pt",
        fingerprint,
        resume=resume,
        progress=progress,
        on_batch=on_batch,
    )
    summary = {
        "arch": cfg.arch,
        "feature_dim": cfg.feature_dim,
        "params": sum(p.numel() for p in model.parameters()),
        "epochs": result.epochs_run,
        "test_accuracy": accuracy(model, data.test.x, data.test.y),
        "val_accuracy": result.best_val_accuracy,
        "train_seconds": round(time.perf_counter() - started, 3),
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
        **data_notes(data),
        "fingerprint": fingerprint,
    }
    safetensors_torch = require("safetensors.torch")
    atomic_write_bytes(run.teacher, safetensors_torch.save(model.state_dict()))  # OSError if full
    atomic_write_json(run.teacher_json, summary)
    return summary


def load_teacher(run: RunDir) -> torch.nn.Module:
    """Rebuild the cached teacher in eval mode; a missing teacher names the command to run."""
    if not run.teacher.exists() or not run.teacher_json.exists():
        raise RunDirError(
            f"no teacher in {run.root}; train one first with `edgesub run` "
            "(or edgesub.teachers.train_teacher)"
        )
    meta = json.loads(run.teacher_json.read_text(encoding="utf-8"))
    model = TEACHERS.get(meta["arch"])(
        meta["feature_dim"], tuple(meta["input_shape"]), meta["num_classes"]
    )
    safetensors_torch = require("safetensors.torch")
    model.load_state_dict(safetensors_torch.load_file(str(run.teacher)))
    return model.eval()


def _cached(run: RunDir, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    if not (run.teacher.exists() and run.teacher_json.exists()):
        return None
    meta = read_json_or_empty(run.teacher_json)
    return meta if meta.get("fingerprint") == json.loads(json.dumps(fingerprint)) else None
