"""A wide MLP teacher on fixed input vectors (e.g. frozen sentence embeddings).

Training it on the task turns a generic embedding into a task-trained feature space: the
"trained teacher" regime of the paper for text when fine-tuning the encoder is too costly.
"""

from __future__ import annotations

import torch
from torch import nn


class WideMLP(nn.Module):
    """in → width → feature_dim (ReLU; the features) → num_classes."""

    def __init__(self, in_dim: int, feature_dim: int, num_classes: int, width: int = 1024):
        super().__init__()
        self.body = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(in_dim, width),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(width, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
