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
