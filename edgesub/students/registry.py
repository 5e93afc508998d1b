"""Student architectures by name; builders import torch only when called."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgesub.registry import Registry

if TYPE_CHECKING:
    from torch import nn

# builder(width, out_dim, input_shape, **options) -> module mapping N×C×H×W (or N×L token ids)
# to N×out_dim
StudentBuilder = Callable[..., "nn.Module"]
STUDENTS: Registry[StudentBuilder] = Registry("student architecture")


@STUDENTS.register("small_cnn")
def small_cnn(width: int, out_dim: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Two-block CNN; width 16 with k=32 on 8×8 inputs is about 9k parameters."""
    from edgesub.students.small_cnn import SmallCNN

    return SmallCNN(width, out_dim, input_shape)


def build_student(
    arch: str, width: int, k: int, input_shape: tuple[int, ...], **options: Any
) -> nn.Module:
    """Build a registered student and check it really outputs k dims on this input shape.

    ``options`` go to the builder (``vocab_size`` for ``text_transformer``).
    """
    import torch

    from edgesub.errors import ConfigError

    student = STUDENTS.get(arch)(width, k, input_shape, **options)
    dtype = getattr(student, "input_dtype", torch.float32)  # token-id students take int64
    was_training = student.training
    student.eval()
    with torch.no_grad():
        out = student(torch.zeros(2, *input_shape, dtype=dtype))
    student.train(was_training)
    if out.shape != (2, k):
        raise ConfigError(
            f"student '{arch}' outputs shape {tuple(out.shape[1:])} per sample, expected ({k},) "
            "to match the subspace dimension k"
        )
    return student


@STUDENTS.register("mobilenetv2")
def mobilenetv2(width: int, out_dim: int, input_shape: tuple[int, ...]) -> nn.Module:
    """MobileNetV2-style inverted residuals; width is the stem's channels (32 = ×1.0)."""
    from edgesub.students.mobilenetv2 import MobileNetV2Student

    return MobileNetV2Student(width, out_dim, input_shape)


@STUDENTS.register("text_transformer")
def text_transformer(
    width: int, out_dim: int, input_shape: tuple[int, ...], vocab_size: int = 8192
) -> nn.Module:
    """Two-layer, 4-head encoder over N×L int64 token ids; ``input_shape`` is (max_length,)."""
    from edgesub.errors import ConfigError
    from edgesub.students.text_transformer import TextTransformer

    if len(input_shape) != 1:
        raise ConfigError(
            f"text_transformer takes token ids of shape (max_length,), got {tuple(input_shape)}"
        )
    if width % 4:
        raise ConfigError(f"text_transformer width must be divisible by 4 heads, got {width}")
    return TextTransformer(width, out_dim, int(input_shape[0]), vocab_size)
