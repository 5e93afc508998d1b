"""The model that ships: head ∘ student, N×C×H×W float32 (or N×L token ids) in, N×classes
logits out."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgesub.students import build_student


class Deployable(nn.Module):
    """Student then one Linear. The head was fitted on the same standardised coordinates the
    student is trained to output, so the de-standardisation is already inside the head."""

    def __init__(self, student: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.student = student
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.student(x))


class Trainee(nn.Module):
    """What trains: head ∘ student plus training-only parts (the FitNets projector) as one
    module, so DDP synchronises all of them; only ``deployable`` ships."""

    def __init__(self, deployable: Deployable, projector: nn.Linear | None) -> None:
        super().__init__()
        self.deployable = deployable
        self.projector = projector

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        out = self.deployable.student(x)
        hint = None if self.projector is None else self.projector(out)
        return out, self.deployable.head(out), hint


def build_deployable(meta: dict[str, Any]) -> Deployable:
    """An untrained head ∘ student from a student.json-style description (arch, width, k,
    input_shape, num_classes; depth and builder options when present)."""
    k = int(meta["k"])
    student = build_student(
        meta["arch"],
        int(meta["width"]),
        k,
        tuple(int(d) for d in meta["input_shape"]),
        int(meta.get("depth", 0)),
        **meta.get("options", {}),
    )
    return Deployable(student, nn.Linear(k, int(meta["num_classes"])))
