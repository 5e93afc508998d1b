"""The distill stage: train the student to the run's teacher subspace, then save head ∘ student
as the deployable model (student.safetensors + student.json).

The transfer set is the labelled train split plus the data's unlabeled inputs, when it has
them (``data.unlabeled``): their targets come from the teacher's cached features, ``head_ce``
skips them, the loop samples all rows alike (an epoch is a pass over both), and student.json
records how many there were (``unlabeled_samples``)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.atomic import atomic_write_bytes, atomic_write_json
from edgesub.config import DistillConfig, StudentConfig, to_dict
from edgesub.digest import file_sha256
from edgesub.distill.core import StudentData, train_student
from edgesub.distill.losses import needs
from edgesub.distill.targets import CachedTargets, OnlineTargets, SignalMaps
from edgesub.errors import ConfigError, DataError
from edgesub.jsonfile import read_json_or_empty
from edgesub.students import count_params
from edgesub.students.registry import resolve_student
from edgesub.subspace import load_subspace
from edgesub.subspace.head import Standardiser
from edgesub.teachers.features import teacher_features, unlabeled_features
from edgesub.teachers.given import given_views
from edgesub.teachers.loaded import teacher_sha256
from edgesub.training.ddp import SINGLE, Dist
from edgesub.training.loop import BatchHook, FitResult, accuracy, confusion_matrix

if TYPE_CHECKING:
    import torch

    from edgesub.data import Dataset
    from edgesub.rundir import RunDir
    from edgesub.subspace.build import Subspace
    from edgesub.teachers.features import Features
    from edgesub.teachers.source import Teacher


def distill(
    run: RunDir,
    data: Dataset,
    student_cfg: StudentConfig,
    cfg: DistillConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_batch: BatchHook | None = None,
    dist: Dist = SINGLE,
) -> dict[str, Any]:
    """Train the student against the subspace in ``run``; return student.json's contents.

    Every check (configuration, data against the run's teacher and subspace, the checkpoint's
    configuration on resume) runs before anything in the run directory is written.
    """
    student_cfg.validate()
    cfg.validate()
    student_cfg = resolve_student(student_cfg, data.input_dtype)
    subspace = load_subspace(run)
    check_same_data(run, data)
    feats = _features(run, data, subspace, dist, progress)
    started = time.perf_counter()
    h_train = np.asarray(feats["train"].h)
    train_x, train_y, h_transfer = transfer_set(data, h_train, unlabeled_features(run, data))
    teacher = _teacher(run) if _needs_teacher(cfg) else None
    targets = _targets(run, data, cfg, subspace, h_train, h_transfer, teacher)
    fingerprint = {
        "student": to_dict(student_cfg),
        "distill": to_dict(cfg),
        "subspace_sha256": file_sha256(run.subspace),
        "data": data.fingerprint(),
        **({"unlabeled": data.unlabeled_fingerprint()} if data.unlabeled is not None else {}),
    }
    model, result = train_student(
        StudentData(train_x, train_y, data.val.x, data.val.y, data.num_classes),
        student_cfg,
        cfg,
        targets,
        k=len(subspace.projection),
        head=subspace.head,
        feature_dim=h_train.shape[1],
        teacher_head=_teacher_head(teacher, cfg),
        checkpoint=run.checkpoints / "student.pt",
        fingerprint=fingerprint,
        resume=resume,
        progress=progress,
        on_batch=on_batch,
        dist=dist,
        options=student_options(data),
    )
    summary = {
        **_summary(model, result, data, student_cfg, cfg, subspace, dist, started),
        **({"unlabeled_samples": len(data.unlabeled)} if data.unlabeled is not None else {}),
        "fingerprint": fingerprint,
    }
    if dist.main:
        _save(run, model, subspace, summary)
    dist.barrier()
    return summary


def _features(
    run: RunDir, data: Dataset, subspace: Subspace, dist: Dist, progress: bool
) -> dict[str, Features]:
    """The teacher's cached features, checked against the data and the subspace."""
    if dist.main:  # one rank extracts missing features, the others then read the cache
        teacher_features(run, data, progress=progress)
    dist.barrier()
    feats = teacher_features(run, data, progress=False)
    _check_features(feats, data, subspace.projection.shape[1])
    return feats


def transfer_set(
    data: Dataset, h_train: np.ndarray, h_unlabeled: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, labels, teacher features) the student trains on: the train split, then the
    unlabeled inputs (label UNLABELED) when the data has them."""
    if data.unlabeled is None or h_unlabeled is None:
        return data.train.x, data.train.y, h_train
    u = data.unlabeled
    return (
        np.concatenate([data.train.x, np.asarray(u.x)]),
        np.concatenate([data.train.y, u.y]),
        np.concatenate([h_train, np.asarray(h_unlabeled, dtype=h_train.dtype)]),
    )


def _targets(
    run: RunDir,
    data: Dataset,
    cfg: DistillConfig,
    subspace: Subspace,
    h_train: np.ndarray,
    h_transfer: np.ndarray,
    teacher: Teacher | None,
) -> CachedTargets | OnlineTargets:
    """The teacher signals the losses need: from the feature cache (of the whole transfer set
    ``h_transfer``), or from the teacher itself on augmented inputs. Standardisations are of
    the labelled train features ``h_train``, as the subspace's are."""
    online = cfg.online_targets
    wanted = needs(cfg.losses)
    maps = SignalMaps(
        wanted,
        subspace=subspace,
        teacher_head=None if teacher is None else _torch_head(teacher, wanted),
        feature_std=Standardiser.fit(h_train) if "features" in wanted else None,
    )
    if online:
        return OnlineTargets(maps, _online_features(run, teacher, data))
    return CachedTargets(maps, h_transfer, len(h_transfer))


def _needs_teacher(cfg: DistillConfig) -> bool:
    """Whether the run's teacher itself is needed: for online targets, its logits, or its
    classifier reused as the head (SimKD)."""
    wanted = needs(cfg.losses)
    return cfg.online_targets or "teacher_logits" in wanted or cfg.head_init == "teacher"


def _teacher_head(teacher: Teacher | None, cfg: DistillConfig) -> Any:
    """The teacher's classifier (weight, bias) when the head reuses it (SimKD)."""
    if cfg.head_init != "teacher":
        return None
    if teacher.head is None:
        raise ConfigError(
            f"simkd reuses the teacher's classifier as a linear map of its features; the "
            f"{teacher.kind} teacher has none (use the subspace losses)"
        )
    return teacher.head


def student_options(data: Dataset) -> dict[str, Any]:
    """Builder options the data decide: a token-id student's vocabulary size."""
    tokenizer = getattr(data, "tokenizer", None)
    return {"vocab_size": len(tokenizer.vocab)} if tokenizer is not None else {}


def _torch_head(teacher: Teacher, wanted: set[str] | frozenset[str]) -> Any:
    """The teacher's classifier as a map of torch features (what logit-KD targets read)."""
    if "teacher_logits" not in wanted:
        return None
    if teacher.head is None:
        raise ConfigError(
            f"logit_kd needs the teacher's classifier as a linear map of its features; the "
            f"{teacher.kind} teacher has none (use the subspace losses)"
        )
    torch = require("torch")
    weight, bias = (torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in teacher.head)
    return lambda h: h @ weight.T + bias


def _online_features(run: RunDir, teacher: Teacher, data: Dataset) -> Any:
    """The teacher on each augmented batch; only when it reads the student's own input."""
    from edgesub.teachers.loaded import is_given

    if is_given(run) and given_views(run, data)[0].input_shape != data.input_shape:
        raise ConfigError(
            "distill.augment and distill.mix run the teacher on the student's augmented input, "
            'but the teacher reads another input size; set them to "none" or drop '
            "student.input_size"
        )
    torch = require("torch")
    return lambda x: torch.from_numpy(teacher.features(x.numpy()))


def _summary(
    model: Any,
    result: FitResult,
    data: Dataset,
    student_cfg: StudentConfig,
    cfg: DistillConfig,
    subspace: Subspace,
    dist: Dist,
    started: float,
) -> dict[str, Any]:
    """What student.json records of the trained student (``started``: when training began,
    by ``time.perf_counter``); the caller adds the fingerprint."""
    return {
        "arch": student_cfg.arch,
        "width": student_cfg.width,
        "depth": student_cfg.depth,
        "k": len(subspace.projection),
        "losses": dict(cfg.losses),
        "train_head": cfg.train_head,
        "head_init": cfg.head_init,
        "augment": cfg.augment,
        "mix": cfg.mix,
        "teacher_targets": "online" if cfg.online_targets else "feature cache",
        "processes": dist.world,
        "student_params": count_params(model.student),
        "deployed_params": count_params(model),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "history": list(result.history),
        "test_accuracy": accuracy(model, data.test.x, data.test.y),
        "confusion": confusion_matrix(model, data.test.x, data.test.y, data.num_classes),
        "val_accuracy": result.best_val_accuracy,
        "train_seconds": round(time.perf_counter() - started, 3),
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "labels": list(data.labels),
        "options": student_options(data),
    }


def _save(run: RunDir, model: Any, subspace: Subspace, summary: dict[str, Any]) -> None:
    """student.safetensors (with the target standardisation) and student.json, atomically."""
    torch = require("torch")
    tensors = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
    tensors["target_mean"] = torch.from_numpy(subspace.standardiser.mean)
    tensors["target_std"] = torch.from_numpy(subspace.standardiser.std)
    atomic_write_bytes(run.student, require("safetensors.torch").save(tensors))  # OSError if full
    atomic_write_json(run.student_json, summary)


def load_deployable(run: RunDir) -> torch.nn.Module:
    """Rebuild head ∘ student from student.json + student.safetensors, in eval mode."""
    from edgesub.distill.deployable import build_deployable

    meta = json.loads(run.require(run.student_json, "distill").read_text(encoding="utf-8"))
    tensors = require("safetensors.torch").load_file(str(run.require(run.student, "distill")))
    model = build_deployable(meta)
    model.load_state_dict({n: t for n, t in tensors.items() if not n.startswith("target_")})
    return model.eval()


def check_same_data(run: RunDir, data: Dataset) -> None:
    """The teacher and the subspace must come from the data the student is given (and the
    subspace from this teacher); otherwise the targets belong to other samples."""
    fix = (
        f"run `edgesub subspace {run.root}` to refit them on this data, "
        "or keep the run's data settings"
    )
    for path, recorded, what in (
        (run.teacher_json, ("fingerprint", "data"), "teacher was trained"),
        (run.subspace_json, ("data",), "subspace was fitted"),
    ):
        meta = read_json_or_empty(path)
        for key in recorded:
            meta = meta.get(key, {}) if isinstance(meta, dict) else {}
        if meta and meta != data.fingerprint():
            raise DataError(f"the run's {what} on other data than '{data.name}' as given; {fix}")
    teacher_sha = read_json_or_empty(run.subspace_json).get("teacher_sha256")
    current = teacher_sha256(run)
    if teacher_sha and current and teacher_sha != current:
        raise DataError(f"the run's subspace was fitted on another teacher's features; {fix}")


def _check_features(feats: dict[str, Features], data: Dataset, d: int) -> None:
    for name, split in data.splits().items():
        f = feats[name]
        if len(f.y) != len(split) or not np.array_equal(f.y, split.y):
            raise DataError(f"cached teacher features of {name} do not match the {name} split")
    if feats["train"].h.shape[1] != d:
        raise DataError(f"teacher features are {feats['train'].h.shape[1]}-dim, the subspace {d}")


def _teacher(run: RunDir) -> Teacher:
    from edgesub.teachers.loaded import run_teacher

    return run_teacher(run)
