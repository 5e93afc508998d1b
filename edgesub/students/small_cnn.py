"""A ~9k-parameter CNN student whose output is a k-dim point in the teacher's subspace.

Only Conv/BatchNorm/ReLU/MaxPool/Flatten/Linear: every op exports to ONNX and TFLite (int8
included) without custom kernels.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks (``width`` and 2·``width`` channels), each halving the image, then a
    linear map to ``out_dim``."""

    def __init__(self, width: int, out_dim: int, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        flat = 2 * width * (height // 4) * (width_px // 4)
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(flat, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
