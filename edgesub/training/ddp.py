"""Data-parallel training with PyTorch's own engine: torchrun + DistributedDataParallel.

Every rank draws the same global minibatch (same seed) and trains on its share of the rows;
losses are scaled so that DDP's gradient average equals the gradient of the global batch's mean
loss. Batch norm uses the statistics of the whole global batch (SyncBatchNorm on GPUs, the
all-reduce :class:`GlobalBatchNorm` on CPUs, where SyncBatchNorm does not run). So N processes
train the model one process would, up to floating-point summation order. Rank 0 evaluates,
decides early stopping for all, and alone writes checkpoints and results.

Launch with ``edgesub distill RUN --nproc N`` (one machine) or ``torchrun`` yourself (several
machines: ``--nnodes``, ``--rdzv-endpoint``; the run directory must then be on shared storage).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgesub._deps import require
from edgesub.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Dist:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    def rows(self, batch: int) -> slice:
        """This rank's rows of a global minibatch of ``batch`` rows (every world-th row)."""
        return slice(self.rank, batch, self.world)

    def broadcast(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (validation accuracy: one decision for all)."""
        if self.world == 1:
            return value
        torch = require("torch")
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return float(box[0])

    def barrier(self) -> None:
        if self.world > 1:
            require("torch").distributed.barrier()


SINGLE = Dist()


def from_env() -> Dist:
    """Join the process group torchrun describes in the environment (gloo on CPUs, NCCL with
    GPUs); a plain process is :data:`SINGLE`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE
    torch = require("torch")
    rank = int(os.environ["RANK"])
    cuda = torch.cuda.is_available()
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(device)
    return Dist(rank, world, device)


def parallel(module: nn.Module, dist: Dist) -> nn.Module:
    """``module`` on this rank's device, wrapped for data-parallel training with global-batch
    batch norm; the module itself when there is one process."""
    if dist.world == 1:
        return module
    torch = require("torch")
    if dist.device == "cpu":
        from edgesub.training.global_bn import to_global_batch_norm

        to_global_batch_norm(module)
    else:
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    module.to(dist.device)
    return torch.nn.parallel.DistributedDataParallel(module)


def launch(nproc: int, args: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run ``edgesub *args`` in ``nproc`` processes on this machine through torchrun; the
    command line is an argument list (never a shell string); ``env`` is added to the workers'
    environment. Returns torchrun's exit code."""
    if nproc < 2:
        raise ConfigError(f"--nproc must be >= 2 to launch several processes, got {nproc}")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "edgesub",
        *args,
    ]
    return subprocess.run(command, check=False, env={**os.environ, **(env or {})}).returncode
