"""A MobileNetV2-style student: inverted residual blocks (1×1 expand, 3×3 depthwise, 1×1 project).

The block type phones run fastest, scaled down for tiny inputs: strides stop halving once the
feature map is 2×2 (8×8 digits) and ``width`` sets the stem's channels (32 is MobileNetV2 ×1.0,
every later stage scales with it). Only Conv/BatchNorm/ReLU6/Add/mean/Linear, which ONNX and
TFLite (int8 included) both handle.
"""

from __future__ import annotations

import torch
from torch import nn

# (expansion t, output channels at ×1.0 c, repeats n, first stride s): MobileNetV2's first
# five stages; the deeper ones add nothing on 8×8 or 28×28 inputs but parameters.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1))
STEM_CHANNELS = 32  # the stem of MobileNetV2 ×1.0
SMALLEST_MAP = 2  # no stride-2 below this feature-map size


def _divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8 as MobileNetV2 does (vector units like it)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    pad = kernel // 2
    conv = nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(cout)]


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [*_conv_bn(cin, hidden, 1, 1), nn.ReLU6()]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6()]
        layers += _conv_bn(hidden, cout, 1, 1)
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV2Student(nn.Module):
    """Stem, the first ``depth`` inverted residual stages, 1×1 head conv, global average pool,
    Linear to out_dim."""

    def __init__(
        self, width: int, out_dim: int, input_shape: tuple[int, ...], depth: int = len(STAGES)
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        multiplier = width / STEM_CHANNELS
        size = min(height, width_px)
        stem = _divisible(STEM_CHANNELS * multiplier)
        layers: list[nn.Module] = [*_conv_bn(channels, stem, 3, 1), nn.ReLU6()]
        cin = stem
        for expansion, base, repeats, first_stride in STAGES[:depth]:
            cout = _divisible(base * multiplier)
            for i in range(repeats):
                stride = first_stride if i == 0 and size // 2 >= SMALLEST_MAP else 1
                size = size // stride
                layers.append(InvertedResidual(cin, cout, stride, expansion))
                cin = cout
        head = 4 * cin
        layers += [*_conv_bn(cin, head, 1, 1), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(head, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))
