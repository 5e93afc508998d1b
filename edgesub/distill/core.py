"""Train one student against teacher signals, with no run directory involved.

The ``distill`` stage (teacher and subspace read from a run) and the students benchmark (teachers
built elsewhere) both call :func:`train_student`: same student, losses, loop, early stopping,
checkpoints and data-parallel training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.config import DistillConfig, StudentConfig
from edgesub.data.dataset import UNLABELED
from edgesub.distill.losses import LossInputs, combined, needs_projector
from edgesub.errors import ConfigError, DataError
from edgesub.training.augment import AUGMENTATIONS, MIXES
from edgesub.training.ddp import SINGLE, Dist, parallel
from edgesub.training.loop import BatchHook, FitResult, LoopConfig, accuracy, fit

if TYPE_CHECKING:
    import torch

    from edgesub.distill.deployable import Deployable, Trainee
    from edgesub.subspace.head import LinearHead

TargetSource = Callable[["torch.Tensor", "torch.Tensor"], dict[str, "torch.Tensor"]]


@dataclass(frozen=True)
class StudentData:
    """Inputs as the student takes them (float32 images or int64 token ids) and labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.train_x.shape[1:])

    @property
    def unlabeled(self) -> int:
        """Train rows without a label (unlabeled transfer-set inputs)."""
        return int(np.count_nonzero(self.train_y == UNLABELED))

    def check(self) -> None:
        """Reject splits the loop cannot train or validate on, before anything is written;
        train rows may be unlabeled (:data:`UNLABELED`), as long as some are labelled."""
        for name, x, y in (("train", self.train_x, self.train_y), ("val", self.val_x, self.val_y)):
            if len(y) == 0:
                raise DataError(f"the {name} split is empty; distillation needs samples in it")
            if len(x) != len(y):
                raise DataError(f"the {name} split has {len(x)} inputs for {len(y)} labels")
            labels = y[y != UNLABELED] if name == "train" else y
            if len(labels) == 0:
                raise DataError(f"the {name} split has no labelled samples")
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise DataError(f"the {name} split has labels outside 0..{self.num_classes - 1}")
        if len(self.train_y) < 2:
            raise DataError("the train split has a single sample; batch norm needs two")
        if tuple(self.val_x.shape[1:]) != self.input_shape:
            raise DataError(
                f"train inputs are {self.input_shape} but val inputs {self.val_x.shape[1:]}"
            )


def train_student(
    data: StudentData,
    student_cfg: StudentConfig,
    cfg: DistillConfig,
    targets: TargetSource,
    *,
    k: int,
    head: LinearHead | None,
    feature_dim: int | None,
    teacher_head: tuple[np.ndarray, np.ndarray] | None = None,
    checkpoint: Path,
    fingerprint: dict[str, Any],
    options: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    on_batch: BatchHook | None = None,
    dist: Dist = SINGLE,
) -> tuple[Deployable, FitResult]:
    """Train head ∘ student (student out ``k``) and return it (CPU, eval, best validation
    weights) with the loop's result.

    ``targets(indices, inputs)`` gives the teacher signals the losses need for a batch; ``head``
    is the compressed head (needed when ``cfg.head_init`` is "subspace"); ``feature_dim`` is the
    teacher's d (needed by losses with a projector); ``teacher_head`` the teacher's own
    classifier (weight C×d, bias C; needed when ``cfg.head_init`` is "teacher", SimKD, whose
    projector and classifier come back folded into one Linear); ``options`` go to the student
    builder.
    """
    torch = require("torch")
    student_cfg.validate()
    cfg.validate()
    data.check()
    _check_head(head, cfg, k, data.num_classes)
    _check_teacher_head(teacher_head, cfg, feature_dim, data.num_classes)
    if (needs_projector(cfg.losses) or cfg.head_init == "teacher") and not feature_dim:
        raise ConfigError("the chosen losses need the teacher's feature dimension d")
    torch.manual_seed(cfg.seed)
    model = _trainee(data, student_cfg, cfg, k, head, teacher_head, feature_dim, options or {})
    result = fit(
        model,
        _step_loss(parallel(model, dist), data, cfg, targets, dist),
        lambda: accuracy(model.deployable, data.val_x, data.val_y, device=dist.device),
        len(data.train_y),
        LoopConfig(
            "student", cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.patience, cfg.seed
        ),
        checkpoint,
        fingerprint,
        resume=resume,
        progress=progress,
        on_batch=on_batch,
        dist=dist,
    )
    return model.shipped(), result


def _trainee(
    data: StudentData,
    student_cfg: StudentConfig,
    cfg: DistillConfig,
    k: int,
    head: LinearHead | None,
    teacher_head: tuple[np.ndarray, np.ndarray] | None,
    feature_dim: int | None,
    options: dict[str, Any],
) -> Trainee:
    """head ∘ student (the head initialised from the subspace's and frozen unless trained),
    with the training-only projector the losses may need; for SimKD (``head_init`` "teacher")
    the head is that projector (trained) then the teacher's classifier (frozen unless
    ``train_head``)."""
    torch = require("torch")
    from edgesub.distill.deployable import ProjectedHead, Trainee, build_deployable

    meta = {
        **{"arch": student_cfg.arch, "width": student_cfg.width, "depth": student_cfg.depth},
        **{"k": k, "input_shape": data.input_shape, "num_classes": data.num_classes},
        "options": options,
    }
    deployable = build_deployable(meta)
    projector = torch.nn.Linear(k, feature_dim) if needs_projector(cfg.losses) else None
    if cfg.head_init == "teacher":
        weight, bias = (np.asarray(a, dtype=np.float32) for a in teacher_head)
        classifier = torch.nn.Linear(feature_dim, data.num_classes)
        classifier.weight.data.copy_(torch.from_numpy(weight))
        classifier.bias.data.copy_(torch.from_numpy(bias))
        classifier.requires_grad_(cfg.train_head)
        if projector is None:
            projector = torch.nn.Linear(k, feature_dim)
        deployable.head = ProjectedHead(projector, classifier)
        return Trainee(deployable, None)
    model = Trainee(deployable, projector)
    if cfg.head_init == "subspace":
        model.deployable.head.weight.data.copy_(torch.from_numpy(head.weight))
        model.deployable.head.bias.data.copy_(torch.from_numpy(head.bias))
    model.deployable.head.requires_grad_(cfg.train_head)
    return model


def _step_loss(
    trained: Any, data: StudentData, cfg: DistillConfig, targets: TargetSource, dist: Dist
) -> Callable[[torch.Tensor, slice], torch.Tensor]:
    """The loop's loss on this rank's rows of a batch: (augmented) inputs through the model,
    teacher signals from ``targets``, the configured losses combined."""
    torch = require("torch")
    loss_fn = combined(cfg.losses)
    augment, mix = AUGMENTATIONS.get(cfg.augment), MIXES.get(cfg.mix)
    x, y = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)
    _check_mixable(x, cfg.mix)

    def step_loss(idx: torch.Tensor, rows: slice) -> torch.Tensor:
        batch, labels = (x[idx] if augment is None else augment(x[idx])), y[idx]
        if mix is not None:  # every rank draws the same blend: one generator state, one batch
            batch, blended = mix(batch)
            labels = torch.where(blended, torch.full_like(labels, UNLABELED), labels)
        local = idx[rows]
        signals = targets(local, batch[rows])
        out, logits, hint = trained(batch[rows].to(dist.device))
        return loss_fn(
            LossInputs(
                output=out,
                logits=logits,
                labels=labels[rows].to(dist.device),
                temperature=cfg.temperature,
                hint=hint,
                label_smoothing=cfg.label_smoothing,
                **{name: value.to(dist.device) for name, value in signals.items()},
            )
        )

    return step_loss


def _check_mixable(x: torch.Tensor, mix: str) -> None:
    """Blending needs float inputs (token ids cannot be blended), CutMix images (N×C×H×W)."""
    if mix == "none":
        return
    if not x.is_floating_point():
        raise ConfigError(f"distill.mix = {mix!r} blends inputs; token ids cannot be blended")
    if mix == "cutmix" and x.dim() != 4:
        raise ConfigError("distill.mix = 'cutmix' pastes image boxes; use 'mixup' for non-images")


def _check_teacher_head(
    teacher_head: tuple[np.ndarray, np.ndarray] | None,
    cfg: DistillConfig,
    feature_dim: int | None,
    classes: int,
) -> None:
    if cfg.head_init != "teacher":
        return
    if teacher_head is None:
        raise ConfigError(
            "distill.head_init = 'teacher' (SimKD) reuses the teacher's classifier, a linear map "
            "of its features; none was given"
        )
    shape = np.shape(teacher_head[0])
    if shape != (classes, feature_dim):
        raise DataError(
            f"the teacher's classifier maps {shape[1]} features to {shape[0]} classes, but the "
            f"teacher features are {feature_dim}-dim and the data has {classes} classes"
        )


def _check_head(head: LinearHead | None, cfg: DistillConfig, k: int, classes: int) -> None:
    if cfg.head_init != "subspace":
        return
    if head is None:
        raise ConfigError("distill.head_init = 'subspace' needs a compressed head (run compress)")
    if head.weight.shape != (classes, k):
        raise DataError(
            f"the compressed head maps {head.weight.shape[1]} dims to {head.weight.shape[0]} "
            f"classes, but the student outputs k={k} and the data has {classes} classes"
        )
