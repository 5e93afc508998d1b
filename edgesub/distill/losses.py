"""Distillation losses by name; a DistillConfig combines them with weights.

All losses see the student's k-dim output (in the standardised subspace coordinates the frozen
compressed head was fitted on) and the logits the head gives it. Each loss declares the teacher
signals it reads (``needs``), so a run loads or computes only those, and a missing one is an
error before training starts. Only ``head_ce`` reads the labels: rows of unlabeled inputs
(``data.unlabeled``, label :data:`UNLABELED`) train through the teacher signals alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgesub.data.dataset import UNLABELED
from edgesub.errors import ConfigError
from edgesub.registry import Registry

if TYPE_CHECKING:
    import torch

# The teacher signals a loss can read (fields of LossInputs that may be None).
SIGNALS = ("target", "head_logits", "teacher_logits", "features", "teacher_features")


@dataclass(frozen=True)
class LossInputs:
    """One minibatch: student output and logits, and the teacher's signals for the same inputs."""

    output: torch.Tensor  # student's subspace coordinates, B×k
    logits: torch.Tensor  # head applied to ``output``, B×C
    labels: torch.Tensor  # B
    temperature: float
    target: torch.Tensor | None = None  # teacher's standardised coordinates (P·h − μ)/σ, B×k
    head_logits: torch.Tensor | None = None  # compressed head applied to ``target``, B×C
    teacher_logits: torch.Tensor | None = None  # the teacher's own full-head logits, B×C
    features: torch.Tensor | None = None  # teacher's standardised full features (h − μ)/σ, B×d
    teacher_features: torch.Tensor | None = None  # the teacher's raw features h, B×d (SimKD)
    hint: torch.Tensor | None = None  # the k → d projector applied to ``output``, B×d
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class Loss:
    """A loss function, the teacher signals it reads, and whether it needs the k → d projector."""

    fn: Callable[[LossInputs], torch.Tensor]
    needs: frozenset[str] = frozenset()
    projector: bool = False

    def __call__(self, b: LossInputs) -> torch.Tensor:
        return self.fn(b)


LOSSES: Registry[Loss] = Registry("loss")


def _register(name: str, *needs: str, projector: bool = False) -> Callable:
    def add(fn: Callable[[LossInputs], torch.Tensor]) -> Callable:
        LOSSES.add(name, Loss(fn, frozenset(needs), projector))
        return fn

    return add


@_register("subspace_mse", "target")
def subspace_mse(b: LossInputs) -> torch.Tensor:
    """Regress the teacher's standardised subspace coordinates (the paper's proposal)."""
    return (b.output - b.target).pow(2).mean()


@_register("subspace_cosine", "target")
def subspace_cosine(b: LossInputs) -> torch.Tensor:
    """Match the direction of the target only; insensitive to the target's scale."""
    import torch

    return (1.0 - torch.nn.functional.cosine_similarity(b.output, b.target, dim=1)).mean()


@_register("head_kd", "head_logits")
def head_kd(b: LossInputs) -> torch.Tensor:
    """KL to the compressed head's softened prediction on the teacher target, through the same
    frozen head: errors in the subspace are weighted by how much they change the decision."""
    return _kd(b.logits, b.head_logits, b.temperature)


@_register("head_ce")
def head_ce(b: LossInputs) -> torch.Tensor:
    """Cross-entropy with the true labels through the head (with ``train_head`` and a random
    head, the plain cross-entropy baseline); the mean over the labelled rows of the batch, so
    unlabeled ones (label :data:`UNLABELED`, teacher signals only) add nothing, and a batch
    without a labelled row adds 0."""
    import torch

    labelled = b.labels != UNLABELED
    if bool(labelled.all()):
        logits, labels = b.logits, b.labels
    elif not bool(labelled.any()):
        return b.logits.sum() * 0.0  # keeps the graph (DDP expects every parameter's grad)
    else:
        logits, labels = b.logits[labelled], b.labels[labelled]
    return torch.nn.functional.cross_entropy(logits, labels, label_smoothing=b.label_smoothing)


@_register("logit_kd", "teacher_logits")
def logit_kd(b: LossInputs) -> torch.Tensor:
    """Hinton KD to the teacher's own full-head logits (baseline; pair with ``train_head``)."""
    return _kd(b.logits, b.teacher_logits, b.temperature)


@_register("fitnets", "features", projector=True)
def fitnets(b: LossInputs) -> torch.Tensor:
    """FitNets-style hint: a learned linear projector maps the student's k-dim output to the
    teacher's full d-dim standardised features, regressed with MSE (baseline; the projector is
    trained with the student and dropped afterwards)."""
    return (b.hint - b.features).pow(2).mean()


@_register("simkd", "teacher_features", projector=True)
def simkd(b: LossInputs) -> torch.Tensor:
    """SimKD (Chen et al., "Knowledge Distillation with the Reused Teacher Classifier", CVPR
    2022): a trainable projector maps the student's features to the teacher's d-dim penultimate
    features, regressed with the squared L2 loss (the paper's only loss: no CE, no KD); the
    teacher's classifier is then reused, frozen, on the projected features (``head_init =
    "teacher"``), so the projector ships with the student."""
    return (b.hint - b.teacher_features).pow(2).mean()


@_register("dkd_tckd", "teacher_logits")
def dkd_tckd(b: LossInputs) -> torch.Tensor:
    """DKD's target-class term (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022):
    KL between the binary (target, all others) probabilities of teacher and student at
    temperature T, times T²; its weight is the paper's α (1.0 on CIFAR-100). Unlabeled rows
    take the teacher's predicted class as the target."""
    import torch

    target = _target_class(b)
    gt = torch.nn.functional.one_hot(target, b.logits.shape[1]).to(b.logits.dtype)
    t = b.temperature

    def binary(logits: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits / t, dim=1)
        p_target = (p * gt).sum(1, keepdim=True)
        return torch.cat([p_target, 1.0 - p_target], dim=1).clamp_min(1e-12)

    teacher, student = binary(b.teacher_logits), binary(b.logits)
    kl = (teacher * (teacher.log() - student.log())).sum(1).mean()
    return kl * t * t


@_register("dkd_nckd", "teacher_logits")
def dkd_nckd(b: LossInputs) -> torch.Tensor:
    """DKD's non-target-class term (Zhao et al., CVPR 2022): KL between teacher and student
    distributions over the non-target classes only (renormalised, temperature T), times T²;
    its weight is the paper's β (8.0 on CIFAR-100). Unlabeled rows take the teacher's
    predicted class as the target."""
    import torch

    f = torch.nn.functional
    target = _target_class(b)
    gt = f.one_hot(target, b.logits.shape[1]).to(b.logits.dtype)
    t = b.temperature
    # the official code masks the target logit with −1000 before the softmax
    soft = f.softmax(b.teacher_logits / t - 1000.0 * gt, dim=1)
    log_student = f.log_softmax(b.logits / t - 1000.0 * gt, dim=1)
    return f.kl_div(log_student, soft, reduction="batchmean") * t * t


def _target_class(b: LossInputs) -> torch.Tensor:
    """The labels, with the teacher's prediction where a row has none."""
    import torch

    return torch.where(b.labels == UNLABELED, b.teacher_logits.argmax(1), b.labels)


@_register("dist_inter", "teacher_logits")
def dist_inter(b: LossInputs) -> torch.Tensor:
    """DIST's inter-class relation (Huang et al., "Knowledge Distillation from A Stronger
    Teacher", NeurIPS 2022): 1 − the Pearson correlation between the student's and teacher's
    softmax(z/τ) over classes, averaged over the rows, times τ²; weight β (paper: 2 on
    CIFAR-100 with τ = 4, 1 on ImageNet with τ = 1)."""
    import torch

    t = b.temperature
    s, p = torch.softmax(b.logits / t, dim=1), torch.softmax(b.teacher_logits / t, dim=1)
    return (1.0 - pearson(s, p).mean()) * t * t


@_register("dist_intra", "teacher_logits")
def dist_intra(b: LossInputs) -> torch.Tensor:
    """DIST's intra-class relation (Huang et al., NeurIPS 2022): the same Pearson loss per class
    across the rows of the batch (the predictions transposed), times τ²; weight γ (paper: 2
    on CIFAR-100, 1 on ImageNet)."""
    import torch

    t = b.temperature
    s, p = torch.softmax(b.logits / t, dim=1), torch.softmax(b.teacher_logits / t, dim=1)
    return (1.0 - pearson(s.T, p.T).mean()) * t * t


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Row-wise Pearson correlation of two N×M tensors (DIST's, with its ε), N values."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def _kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float) -> torch.Tensor:
    import torch

    f = torch.nn.functional
    soft = f.softmax(teacher_logits / t, dim=1)
    return f.kl_div(f.log_softmax(student_logits / t, dim=1), soft, reduction="batchmean") * t * t


def active(weights: dict[str, float]) -> list[tuple[Loss, float]]:
    """The named losses with a weight > 0; unknown names fail here, before any training."""
    parts = [(LOSSES.get(name), weight) for name, weight in weights.items() if weight > 0]
    if not parts:
        raise ConfigError("distill.losses needs at least one loss with a weight > 0")
    return parts


def needs(weights: dict[str, float]) -> frozenset[str]:
    """Every teacher signal the weighted losses read."""
    return frozenset().union(*(loss.needs for loss, _ in active(weights)))


def needs_projector(weights: dict[str, float]) -> bool:
    return any(loss.projector for loss, _ in active(weights))


def combined(weights: dict[str, float]) -> Callable[[LossInputs], torch.Tensor]:
    """Weighted sum of named losses."""
    parts = active(weights)

    def total(b: LossInputs) -> torch.Tensor:
        return sum((w * fn(b) for fn, w in parts[1:]), parts[0][1] * parts[0][0](b))

    return total
