"""A user's torch classifier as the exporters take it: one float32 batch in, the N×C scores out
(:class:`Scores`), or a text classifier's token ids and attention mask in (:class:`TokenScores`).

Imports torch at module level, so only :mod:`edgesub.converters.torch_sources` imports it, and
only once it loads a model. The class lives in a module (not a function) so the export worker
can unpickle it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgesub.teachers.torch_teacher import first_tensor


class Scores(nn.Module):
    """``model``'s class scores: the output itself, the first tensor of a tuple, or a
    ``ModelOutput``'s logits. ``keyword`` passes the batch by name (``pixel_values``);
    ``fixed_batch`` 1 is a program exported for single samples, run one sample at a time
    outside export and tracing (which see one-sample inputs)."""

    def __init__(self, model: nn.Module, keyword: str = "", fixed_batch: int | None = None):
        super().__init__()
        self.model = model
        self.keyword = keyword
        self.fixed_batch = fixed_batch

    def forward(self, x: torch.Tensor) -> Any:
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
        if self.fixed_batch and len(x) != self.fixed_batch and not tracing:
            return torch.cat([self.scores(chunk) for chunk in x.split(self.fixed_batch)])
        return self.scores(x)

    def scores(self, x: torch.Tensor) -> Any:
        out = self.model(**{self.keyword: x}) if self.keyword else self.model(x)
        return first_tensor(out)


class MeanPooled(nn.Module):
    """A text encoder's sentence embedding from token ids and an attention mask: its last
    hidden states averaged over the real tokens (sentence-transformers' mean pooling)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = first_tensor(self.model(input_ids=input_ids, attention_mask=attention_mask))
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).float()


class TokenScores(nn.Module):
    """A sequence classifier's float32 class scores from token ids and an attention mask, the
    two inputs its ONNX and TFLite files take by these names, in this order."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return first_tensor(out).float()
