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


class ProjectedHead(nn.Module):
    """SimKD's head while it trains: a trainable k → d projector, then the teacher's own
    classifier (d → classes, frozen). Both are linear, so :meth:`folded` is one k → classes
    Linear computing the same function: what ships."""

    def __init__(self, projector: nn.Linear, classifier: nn.Linear) -> None:
        super().__init__()
        self.projector = projector
        self.classifier = classifier

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.projector(out))

    def folded(self) -> nn.Linear:
        """W·(A·z + a) + b = (W·A)·z + (W·a + b)."""
        a, w = self.projector, self.classifier
        linear = nn.Linear(a.in_features, w.out_features)
        with torch.no_grad():
            linear.weight.copy_(w.weight @ a.weight)
            linear.bias.copy_(w.weight @ a.bias + w.bias)
        return linear


class Trainee(nn.Module):
    """What trains: head ∘ student plus training-only parts (the FitNets projector) as one
    module, so DDP synchronises all of them; only ``deployable`` ships. With a
    :class:`ProjectedHead` (SimKD) the projector is the head's own, and the hint the projected
    features the head classifies."""

    def __init__(self, deployable: Deployable, projector: nn.Linear | None) -> None:
        super().__init__()
        self.deployable = deployable
        self.projector = projector

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        out = self.deployable.student(x)
        head = self.deployable.head
        if isinstance(head, ProjectedHead):
            hint = head.projector(out)
            return out, head.classifier(hint), hint
        hint = None if self.projector is None else self.projector(out)
        return out, head(out), hint

    def shipped(self) -> Deployable:
        """The deployable, its SimKD head folded into one Linear (CPU, eval)."""
        model = self.deployable.cpu().eval()
        if isinstance(model.head, ProjectedHead):
            model.head = model.head.folded().requires_grad_(False)
        return model


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
