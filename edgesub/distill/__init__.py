"""Subspace-native distillation and its baselines: losses, methods, the resumable (and
data-parallel) training loop, the deployable model."""

from edgesub.distill.core import StudentData, train_student
from edgesub.distill.losses import LOSSES
from edgesub.distill.methods import METHODS, with_method
from edgesub.distill.train import distill, load_deployable

__all__ = [
    "LOSSES",
    "METHODS",
    "StudentData",
    "distill",
    "load_deployable",
    "train_student",
    "with_method",
]
