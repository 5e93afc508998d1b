"""The model that ships: compressed head ∘ student, N×C×H×W float32 in, N×classes logits out."""

from __future__ import annotations

import torch
from torch import nn


class Deployable(nn.Module):
    """Student then one Linear. The head was fitted on the same standardised coordinates the
    student is trained to output, so the de-standardisation is already inside the head."""

    def __init__(self, student: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.student = student
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.student(x))
