"""Teacher architectures by name; builders import torch only when called."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edgesub.registry import Registry

if TYPE_CHECKING:
    from torch import nn

TeacherBuilder = Callable[[int, tuple[int, ...], int], "nn.Module"]
TEACHERS: Registry[TeacherBuilder] = Registry("teacher architecture")


@TEACHERS.register("wide_cnn")
def wide_cnn(feature_dim: int, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Conv teacher for small images (digits, MNIST); exposes ``features(x)`` and ``head``."""
    from edgesub.teachers.wide_cnn import WideCNN

    return WideCNN(feature_dim, input_shape, num_classes)
