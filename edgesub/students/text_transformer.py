"""A small text student: token ids (N×L int64) in, a k-dim point in the teacher's subspace out.

Embedding + learned positions + ``depth`` (default two) post-norm encoder layers + mean pooling
over the non-padding tokens + a linear map to k. Attention is written out with
Linear/matmul/softmax rather than ``nn.TransformerEncoderLayer``, whose eval-mode fast path is a
fused kernel that neither the ONNX exporter nor litert-torch lowers; the padding mask is an
additive -1e4 (not -inf) so a row of padding never yields NaN.
"""

from __future__ import annotations

import torch
from torch import nn

PAD_ID = 0  # the tokenizer's [PAD]; padding positions are masked out of attention and pooling
HEADS = 4
LAYERS = 2
FFN_MULTIPLIER = 2
MASK_VALUE = -1e4


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        head_dim = width // self.heads
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = torch.matmul(q, k.transpose(-1, -2)) * (head_dim**-0.5) + bias
        mixed = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.proj(mixed.transpose(1, 2).reshape(n, length, width))


class EncoderLayer(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attention = SelfAttention(width, heads)
        self.norm1 = nn.LayerNorm(width)
        self.ffn = nn.Sequential(
            nn.Linear(width, FFN_MULTIPLIER * width),
            nn.GELU(),
            nn.Linear(FFN_MULTIPLIER * width, width),
        )
        self.norm2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention(x, bias))
        return self.norm2(x + self.ffn(x))


class TextTransformer(nn.Module):
    """Token ids → k dims; ``input_dtype`` tells converters to feed int64 ids, not floats."""

    input_dtype = torch.int64

    def __init__(
        self, width: int, out_dim: int, max_length: int, vocab_size: int, depth: int = LAYERS
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD_ID)
        self.positions = nn.Parameter(torch.zeros(1, max_length, width))
        nn.init.normal_(self.positions, std=0.02)
        self.layers = nn.ModuleList(EncoderLayer(width, HEADS) for _ in range(depth))
        self.fc = nn.Linear(width, out_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != PAD_ID).to(torch.float32)  # N×L
        bias = ((1.0 - keep) * MASK_VALUE)[:, None, None, :]  # N×1×1×L, broadcast over heads
        x = self.embed(ids) + self.positions
        for layer in self.layers:
            x = layer(x, bias)
        weights = keep[:, :, None]
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.fc(pooled)
