"""Subspace-native distillation: losses, the resumable training loop, the deployable model."""

from edgesub.distill.losses import LOSSES
from edgesub.distill.train import distill, load_deployable

__all__ = ["LOSSES", "distill", "load_deployable"]
