"""Subspace-native distillation: train the student to the teacher's k-dim coordinates, then
save head ∘ student as the deployable model (student.safetensors + student.json)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.atomic import atomic_path, atomic_write_json
from edgesub.config import DistillConfig, StudentConfig, to_dict
from edgesub.digest import file_sha256
from edgesub.distill.loop import BatchHook, LoopConfig, accuracy, fit
from edgesub.distill.losses import LossInputs, combined
from edgesub.students import build_student
from edgesub.subspace import load_subspace
from edgesub.subspace.features import teacher_features

if TYPE_CHECKING:
    import torch

    from edgesub.data import Dataset
    from edgesub.rundir import RunDir


def distill(
    run: RunDir,
    data: Dataset,
    student_cfg: StudentConfig,
    cfg: DistillConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_batch: BatchHook | None = None,
) -> dict[str, Any]:
    """Train the student against the subspace in ``run``; return student.json's contents."""
    torch = require("torch")
    student_cfg.validate()
    cfg.validate()
    loss_fn = combined(cfg.losses)
    subspace = load_subspace(run)
    feats = teacher_features(run, data, progress=progress)
    k = len(subspace.projection)
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = _deployable(student_cfg.arch, student_cfg.width, k, data)
    model.head.weight.data.copy_(torch.from_numpy(subspace.head.weight))
    model.head.bias.data.copy_(torch.from_numpy(subspace.head.bias))
    model.head.requires_grad_(cfg.train_head)
    x = torch.from_numpy(data.train.x)
    y = torch.from_numpy(data.train.y)
    target = torch.from_numpy(subspace.coordinates(feats["train"].h))
    head_logits = torch.from_numpy(subspace.head.logits(target.numpy()))
    teacher_logits = _teacher_logits(run, feats["train"].h) if "logit_kd" in cfg.losses else None

    def step_loss(idx: torch.Tensor) -> torch.Tensor:
        out = model.student(x[idx])
        return loss_fn(
            LossInputs(
                output=out,
                logits=model.head(out),
                target=target[idx],
                head_logits=head_logits[idx],
                teacher_logits=None if teacher_logits is None else teacher_logits[idx],
                labels=y[idx],
                temperature=cfg.temperature,
            )
        )

    fingerprint = {
        "student": to_dict(student_cfg),
        "distill": to_dict(cfg),
        "subspace_sha256": file_sha256(run.subspace),
        "data": data.fingerprint(),
    }
    result = fit(
        model,
        step_loss,
        lambda: accuracy(model, data.val.x, data.val.y),
        len(y),
        LoopConfig(
            "student", cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.patience, cfg.seed
        ),
        run.checkpoints / "student.pt",
        fingerprint,
        resume=resume,
        progress=progress,
        on_batch=on_batch,
    )
    summary = {
        "arch": student_cfg.arch,
        "width": student_cfg.width,
        "k": k,
        "losses": dict(cfg.losses),
        "train_head": cfg.train_head,
        "student_params": sum(p.numel() for p in model.student.parameters()),
        "deployed_params": sum(p.numel() for p in model.parameters()),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "test_accuracy": accuracy(model, data.test.x, data.test.y),
        "val_accuracy": result.best_val_accuracy,
        "train_seconds": round(time.perf_counter() - started, 3),
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "labels": list(data.labels),
        "fingerprint": fingerprint,
    }
    tensors = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
    tensors["target_mean"] = torch.from_numpy(subspace.standardiser.mean)
    tensors["target_std"] = torch.from_numpy(subspace.standardiser.std)
    safetensors_torch = require("safetensors.torch")
    with atomic_path(run.student) as tmp:
        safetensors_torch.save_file(tensors, str(tmp))
    atomic_write_json(run.student_json, summary)
    return summary


def load_deployable(run: RunDir) -> torch.nn.Module:
    """Rebuild head ∘ student from student.json + student.safetensors, in eval mode."""
    meta = json.loads(run.require(run.student_json, "distill").read_text(encoding="utf-8"))
    safetensors_torch = require("safetensors.torch")
    tensors = safetensors_torch.load_file(str(run.require(run.student, "distill")))
    model = _build(
        meta["arch"], meta["width"], meta["k"], tuple(meta["input_shape"]), meta["num_classes"]
    )
    model.load_state_dict({n: t for n, t in tensors.items() if not n.startswith("target_")})
    return model.eval()


def _deployable(arch: str, width: int, k: int, data: Dataset) -> torch.nn.Module:
    return _build(arch, width, k, data.input_shape, data.num_classes)


def _build(
    arch: str, width: int, k: int, input_shape: tuple[int, ...], num_classes: int
) -> torch.nn.Module:
    torch = require("torch")
    from edgesub.distill.deployable import Deployable

    return Deployable(build_student(arch, width, k, input_shape), torch.nn.Linear(k, num_classes))


def _teacher_logits(run: RunDir, h: np.ndarray) -> torch.Tensor:
    """The teacher's own head on cached features (for the logit-KD baseline)."""
    torch = require("torch")
    from edgesub.teachers import load_teacher

    teacher = load_teacher(run)
    with torch.no_grad():
        return teacher.head(torch.from_numpy(np.asarray(h, dtype=np.float32)))
