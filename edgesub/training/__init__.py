"""The training layer beneath teachers, subspaces and students: one resumable loop, thread
limits, input augmentations and data-parallel workers. It imports none of the stages above it."""

from edgesub.training.augment import AUGMENTATIONS
from edgesub.training.loop import TRAIN_THREADS, FitResult, LoopConfig, accuracy, fit, torch_threads

__all__ = [
    "AUGMENTATIONS",
    "TRAIN_THREADS",
    "FitResult",
    "LoopConfig",
    "accuracy",
    "fit",
    "torch_threads",
]
