"""GlobalBatchNorm over 2 gloo processes equals BatchNorm2d over the whole batch in one process:
outputs, input gradients, parameter gradients and running statistics."""

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from edgesub.training.global_bn import to_global_batch_norm

WORLD = 2


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.nn.BatchNorm2d]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 4, 4, generator=gen) * 2 + 1
    weights = torch.randn(6, 3, 4, 4, generator=gen)  # loss = sum(weights * bn(x))
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(3, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(3, generator=gen))
    return x, weights, bn


def _worker(rank: int, folder: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=WORLD
    )
    x, weights, bn = _inputs()
    to_global_batch_norm(bn)
    rows = slice(rank, None, WORLD)
    local = x[rows].clone().requires_grad_(True)
    y = bn(local)
    (y * weights[rows]).sum().backward()
    grads = torch.stack([bn.weight.grad, bn.bias.grad])
    dist.all_reduce(grads)  # the whole loss's gradient is the sum of the ranks' parts
    out = {"y": y.detach(), "x_grad": local.grad, "param_grads": grads}
    out.update(running_mean=bn.running_mean, running_var=bn.running_var)
    bn.eval()
    out["eval"] = bn(x[rows]).detach()
    torch.save(out, Path(folder) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_match_one_batch_norm_over_the_global_batch(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    x, weights, bn = _inputs()
    x.requires_grad_(True)
    y = bn(x)
    (y * weights).sum().backward()
    param_grads = torch.stack([bn.weight.grad, bn.bias.grad])
    bn.eval()
    y_eval = bn(x).detach()
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        rows = slice(rank, None, WORLD)
        torch.testing.assert_close(got["y"], y[rows].detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got["x_grad"], x.grad[rows], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got["param_grads"], param_grads, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got["running_mean"], bn.running_mean, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got["running_var"], bn.running_var, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got["eval"], y_eval[rows], atol=1e-5, rtol=1e-5)
