"""Distillation losses by name; a DistillConfig combines them with weights.

All losses see the student's k-dim output (in the standardised subspace coordinates the frozen
compressed head was fitted on) and the logits that head gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgesub.errors import ConfigError
from edgesub.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LossInputs:
    """One minibatch: student output and logits, and the teacher's signals for the same inputs."""

    output: torch.Tensor  # student's subspace coordinates, B×k
    logits: torch.Tensor  # compressed head applied to ``output``, B×C
    target: torch.Tensor  # teacher's standardised coordinates (P·h − μ)/σ, B×k
    head_logits: torch.Tensor  # compressed head applied to ``target``, B×C
    teacher_logits: torch.Tensor | None  # the teacher's own full-head logits, B×C
    labels: torch.Tensor  # B
    temperature: float


Loss = Callable[[LossInputs], "torch.Tensor"]
LOSSES: Registry[Loss] = Registry("loss")


@LOSSES.register("subspace_mse")
def subspace_mse(b: LossInputs) -> torch.Tensor:
    """Regress the teacher's standardised subspace coordinates (the paper's proposal)."""
    return (b.output - b.target).pow(2).mean()


@LOSSES.register("subspace_cosine")
def subspace_cosine(b: LossInputs) -> torch.Tensor:
    """Match the direction of the target only; insensitive to the target's scale."""
    import torch

    return (1.0 - torch.nn.functional.cosine_similarity(b.output, b.target, dim=1)).mean()


@LOSSES.register("head_kd")
def head_kd(b: LossInputs) -> torch.Tensor:
    """KL to the compressed head's softened prediction on the teacher target, through the same
    frozen head: errors in the subspace are weighted by how much they change the decision."""
    return _kd(b.logits, b.head_logits, b.temperature)


@LOSSES.register("head_ce")
def head_ce(b: LossInputs) -> torch.Tensor:
    """Cross-entropy with the true labels through the frozen head (with ``train_head`` the plain
    cross-entropy baseline)."""
    import torch

    return torch.nn.functional.cross_entropy(b.logits, b.labels)


@LOSSES.register("logit_kd")
def logit_kd(b: LossInputs) -> torch.Tensor:
    """Hinton KD to the teacher's own full-head logits (baseline; pair with ``train_head``)."""
    assert b.teacher_logits is not None, "logit_kd needs the teacher's logits"
    return _kd(b.logits, b.teacher_logits, b.temperature)


def _kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float) -> torch.Tensor:
    import torch

    f = torch.nn.functional
    soft = f.softmax(teacher_logits / t, dim=1)
    return f.kl_div(f.log_softmax(student_logits / t, dim=1), soft, reduction="batchmean") * t * t


def combined(weights: dict[str, float]) -> Loss:
    """Weighted sum of named losses; unknown names fail here, before any training."""
    parts = [(LOSSES.get(name), weight) for name, weight in weights.items() if weight > 0]
    if not parts:
        raise ConfigError("distill.losses needs at least one loss with a weight > 0")

    def total(b: LossInputs) -> torch.Tensor:
        return sum((w * fn(b) for fn, w in parts[1:]), parts[0][1] * parts[0][0](b))

    return total
