"""Input augmentations by name. Any augmentation makes the teacher's targets depend on the
augmented input, so distillation then computes them online instead of reading the cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edgesub._deps import require
from edgesub.registry import Registry

if TYPE_CHECKING:
    import torch

Augment = Callable[["torch.Tensor"], "torch.Tensor"]
# None means no augmentation: the cached teacher features are the targets.
AUGMENTATIONS: Registry[Augment | None] = Registry("augmentation")
AUGMENTATIONS.add("none", None)


@AUGMENTATIONS.register("shift")
def random_shift(x: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Shift each image by up to ``pixels`` in each direction (zero fill): cheap augmentation
    that makes a small-image model generalise (and a teacher's features transfer) noticeably
    better. Draws from torch's global generator, which checkpoints save and restore."""
    torch = require("torch")
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pixels, pixels, pixels, pixels))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, n, 1))
    rows = (dy + torch.arange(h))[:, :, None]
    cols = (dx + torch.arange(w))[:, None, :]
    return padded[torch.arange(n)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


Mix = Callable[["torch.Tensor"], tuple["torch.Tensor", "torch.Tensor"]]
# Batch mixing of the transfer set. A share of each batch's rows is blended with another row;
# a blended row drops its label and learns from the teacher's signals for the blended input
# alone, so labels are never blended and the targets always match what the student sees.
# None means no mixing.
MIXES: Registry[Mix | None] = Registry("batch mixing")
MIXES.add("none", None)
MIX_SHARE = 0.5  # of a batch's rows, blended; the others keep their labels
MIX_ALPHA = 1.0  # the blend weight λ ~ Beta(α, α), the mixup and CutMix papers' CIFAR choice


def _draw(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows to blend (bool, N), each row's partner (N) and its own share λ (N)."""
    torch = require("torch")
    n = len(x)
    rows = torch.rand(n) < MIX_SHARE
    partners = torch.randperm(n)
    alpha = torch.tensor(MIX_ALPHA)
    lam = torch.distributions.Beta(alpha, alpha).sample((n,))
    return rows, partners, lam


def _per_row(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``values`` (N) shaped to broadcast over the rows of ``x``."""
    return values.reshape(-1, *([1] * (x.dim() - 1)))


@MIXES.register("mixup")
def mixup(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend chosen rows with a partner, λ·x + (1 − λ)·x_partner (Zhang et al. 2018); returns
    the batch and which rows were blended."""
    torch = require("torch")
    rows, partners, lam = _draw(x)
    blended = _per_row(lam, x) * x + _per_row(1 - lam, x) * x[partners]
    return torch.where(_per_row(rows, x), blended, x), rows


@MIXES.register("cutmix")
def cutmix(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a box of a partner's image covering 1 − λ of the area into chosen rows (Yun et al.
    2019); images only (N×C×H×W). Returns the batch and which rows were blended."""
    torch = require("torch")
    rows, partners, lam = _draw(x)
    n, _, h, w = x.shape
    side = torch.sqrt(1 - lam)
    bh, bw = (side * h).round().long(), (side * w).round().long()
    top = (torch.rand(n) * (h - bh + 1)).long()
    left = (torch.rand(n) * (w - bw + 1)).long()
    ys, xs = torch.arange(h), torch.arange(w)
    inside_y = (ys >= top[:, None]) & (ys < (top + bh)[:, None])
    inside_x = (xs >= left[:, None]) & (xs < (left + bw)[:, None])
    box = (inside_y[:, :, None] & inside_x[:, None, :])[:, None] & _per_row(rows, x)
    return torch.where(box, x[partners], x), rows
