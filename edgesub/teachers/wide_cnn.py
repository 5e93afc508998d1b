"""A wide CNN teacher for small images: its penultimate layer is the d-dim feature space."""

from __future__ import annotations

import torch
from torch import nn


class WideCNN(nn.Module):
    """Three conv blocks then a d-wide ReLU layer (the features) and a linear head."""

    def __init__(self, feature_dim: int, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        channels = input_shape[0]
        self.body = nn.Sequential(
            _block(channels, 32),
            nn.MaxPool2d(2),
            _block(32, 64),
            _block(64, 128),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(128 * 4, feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations h(x) ∈ R^d, the space the subspace stage projects."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())
