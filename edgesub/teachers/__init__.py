"""Task-trained teachers whose penultimate features the subspace stage compresses."""

from edgesub.teachers.registry import TEACHERS
from edgesub.teachers.train import load_teacher, train_teacher

__all__ = ["TEACHERS", "load_teacher", "train_teacher"]
