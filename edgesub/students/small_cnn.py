"""A small CNN student whose output is a k-dim point in the teacher's subspace.

Only Conv/BatchNorm/ReLU/MaxPool/Flatten/Linear: every op exports to ONNX and TFLite (int8
included) without custom kernels. Width 16, depth 2 with k=32 on 8×8 digits is about 9k
parameters.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_DEPTH = 2


class SmallCNN(nn.Module):
    """``depth`` conv blocks (``width``, 2·``width``, 4·``width``, … channels), each halving the
    image while it is at least 2×2, then a linear map to ``out_dim``."""

    def __init__(
        self, width: int, out_dim: int, input_shape: tuple[int, ...], depth: int = DEFAULT_DEPTH
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        layers: list[nn.Module] = []
        cin = channels
        for block in range(depth):
            cout = width * 2**block
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
            if min(height, width_px) >= 2:
                layers.append(nn.MaxPool2d(2))
                height, width_px = height // 2, width_px // 2
            cin = cout
        layers += [nn.Flatten(), nn.Linear(cin * height * width_px, out_dim)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
