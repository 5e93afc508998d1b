"""Batch norm over the global batch of every data-parallel rank, on CPUs (gloo).

torch's SyncBatchNorm runs only on GPUs; without it each rank normalises with its own shard's
statistics and N processes train a different model than one process would. This layer
all-reduces the per-channel sum and then the centred sum of squares (two passes, as exact as
BatchNorm2d's own), differentiably, so gradients flow through the global statistics too.
"""

from __future__ import annotations

import torch
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the gradients (each rank's loss
    depends on every rank's input through the sum)."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        torch.distributed.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        torch.distributed.all_reduce(grad)
        return grad


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    return _AllReduceSum.apply(x)


class GlobalBatchNorm(nn.BatchNorm2d):
    """A BatchNorm2d (same parameters, buffers and eval behaviour) whose training statistics
    span all ranks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = (0, 2, 3)
        count = torch.tensor([float(x.numel() // x.shape[1])])
        torch.distributed.all_reduce(count)
        n = float(count.item())
        mean = all_reduce(x.sum(dims)) / n
        centred = x - mean[None, :, None, None]
        var = all_reduce(centred.pow(2).sum(dims)) / n
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / int(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * var * n / max(n - 1.0, 1.0))
        scale = self.weight / torch.sqrt(var + self.eps)
        return centred * scale[None, :, None, None] + self.bias[None, :, None, None]


def to_global_batch_norm(module: nn.Module) -> nn.Module:
    """Turn every BatchNorm2d of ``module`` into a GlobalBatchNorm in place (its parameters and
    buffers stay, so state dicts and the exported model are unchanged)."""
    for child in module.modules():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = GlobalBatchNorm
    return module
