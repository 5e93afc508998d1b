"""Student architectures by name; builders import torch only when called.

Every builder takes ``(width, out_dim, input_shape, depth, **options)``: ``width`` scales the
channels, ``depth`` the number of blocks/stages/layers (0 means the architecture's default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgesub.errors import ConfigError
from edgesub.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from edgesub.config import StudentConfig

# builder(width, out_dim, input_shape, depth, **options) -> module mapping N×C×H×W (or N×L
# token ids) to N×out_dim
StudentBuilder = Callable[..., "nn.Module"]
STUDENTS: Registry[StudentBuilder] = Registry("student architecture")


@STUDENTS.register("small_cnn")
def small_cnn(width: int, out_dim: int, input_shape: tuple[int, ...], depth: int = 0) -> nn.Module:
    """Conv blocks doubling the channels and halving the image (default 2 blocks); width 16 with
    k=32 on 8×8 inputs is about 9k parameters."""
    from edgesub.students.small_cnn import DEFAULT_DEPTH, SmallCNN

    _image_shape("small_cnn", input_shape)
    return SmallCNN(width, out_dim, input_shape, depth or DEFAULT_DEPTH)


@STUDENTS.register("mobilenetv2")
def mobilenetv2(
    width: int, out_dim: int, input_shape: tuple[int, ...], depth: int = 0
) -> nn.Module:
    """MobileNetV2-style inverted residuals; width is the stem's channels (32 = ×1.0), depth the
    number of stages (1–5, default 5)."""
    from edgesub.students.mobilenetv2 import STAGES, MobileNetV2Student

    _image_shape("mobilenetv2", input_shape)
    if depth > len(STAGES):
        raise ConfigError(f"mobilenetv2 has {len(STAGES)} stages; got depth {depth}")
    return MobileNetV2Student(width, out_dim, input_shape, depth or len(STAGES))


@STUDENTS.register("text_transformer")
def text_transformer(
    width: int,
    out_dim: int,
    input_shape: tuple[int, ...],
    depth: int = 0,
    vocab_size: int = 8192,
) -> nn.Module:
    """4-head encoder over N×L int64 token ids (default 2 layers); ``input_shape`` is
    (max_length,)."""
    from edgesub.students.text_transformer import LAYERS, TextTransformer

    if len(input_shape) != 1:
        raise ConfigError(
            f"text_transformer takes token ids of shape (max_length,), got {tuple(input_shape)}"
        )
    if width % 4:
        raise ConfigError(f"text_transformer width must be divisible by 4 heads, got {width}")
    return TextTransformer(width, out_dim, int(input_shape[0]), vocab_size, depth or LAYERS)


def build_student(
    arch: str,
    width: int,
    k: int,
    input_shape: tuple[int, ...],
    depth: int = 0,
    **options: Any,
) -> nn.Module:
    """Build a registered student and check it really outputs k dims on this input shape.

    ``options`` go to the builder (``vocab_size`` for ``text_transformer``).
    """
    import torch

    if width < 1 or k < 1 or depth < 0:
        raise ConfigError(
            f"student needs width >= 1, k >= 1 and depth >= 0; got {width}, {k} and {depth}"
        )
    student = STUDENTS.get(arch)(width, k, input_shape, depth, **options)
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


# what ``student.arch = "auto"`` and ``student.width = 0`` stand for
AUTO_ARCH = {"float32": "small_cnn", "int64": "text_transformer"}
DEFAULT_WIDTHS = {"small_cnn": 16, "mobilenetv2": 32, "text_transformer": 64}


def resolve_student(cfg: StudentConfig, input_dtype: str) -> StudentConfig:
    """``cfg`` with ``auto`` arch (by the input: images or token ids) and width 0 made
    concrete, so what trains and what student.json records are the same."""
    arch = AUTO_ARCH.get(input_dtype, "small_cnn") if cfg.arch == "auto" else cfg.arch
    STUDENTS.get(arch)
    width = cfg.width or DEFAULT_WIDTHS.get(arch, 16)
    return dataclasses.replace(cfg, arch=arch, width=width)


def count_params(module: nn.Module) -> int:
    """Number of parameters (weights and biases; BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in module.parameters())


def deployed_params(
    arch: str,
    width: int,
    k: int,
    input_shape: tuple[int, ...],
    num_classes: int,
    depth: int = 0,
    **options: Any,
) -> int:
    """Parameters of what ships: the student (out k) plus its k → classes linear head."""
    student = build_student(arch, width, k, input_shape, depth, **options)
    return count_params(student) + k * num_classes + num_classes


def width_for_params(
    arch: str,
    target: int,
    k: int,
    input_shape: tuple[int, ...],
    num_classes: int,
    depth: int = 0,
    **options: Any,
) -> int:
    """The width whose deployed parameter count is closest to ``target`` (matching model sizes
    across methods whose students differ, e.g. with and without a k-dim bottleneck)."""
    step = 4 if arch == "text_transformer" else 1
    best = (float("inf"), step)
    for width in range(step, 4097, step):
        params = deployed_params(arch, width, k, input_shape, num_classes, depth, **options)
        best = min(best, (abs(params - target), width))
        if params > target:
            break
    return best[1]


def _image_shape(arch: str, input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 3:
        raise ConfigError(f"{arch} takes images of shape (C, H, W), got {tuple(input_shape)}")
