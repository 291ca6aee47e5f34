"""Rank and world helpers for ``torchrun`` training; each is the identity when not distributed.

Under ``torchrun`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous variables), ``init()`` joins the default process group (``nccl`` on CUDA, ``gloo``
on CPU); until then, and in a plain process, ``rank() == 0``, ``world_size() == 1`` and the
gathers return their input, so code written for several ranks runs unchanged on one.

The gathers are public and generic (any ``[B, ...]`` tensor, equal ``B`` on every rank), so a
method can gather what it needs: contrastive negatives (``all_gather``, gradients kept), or
keys to enqueue and labels (``gather_no_grad``). A momentum (EMA) target needs no gather: DDP
keeps the online weights identical on every rank, so the same EMA update on every rank keeps
the targets identical too.
"""

from __future__ import annotations

import gc
import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from benchmark.errors import BenchmarkError

#: How long a rank waits in a collective (e.g. the followers while rank 0 evaluates a job).
TIMEOUT = timedelta(hours=24)


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (``WORLD_SIZE`` and ``RANK`` set)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def is_distributed() -> bool:
    """Whether the default process group is up with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of ranks (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``; 0 when not set)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def rank_device(device: torch.device) -> torch.device:
    """The device this rank trains on: ``cuda:LOCAL_RANK`` when ``device`` is CUDA and training
    is distributed (one GPU per rank), ``device`` otherwise. Untested on GPU (written for
    torchrun's one-process-per-GPU layout)."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", local_rank())
    return device


def shard(count: int, what: str = "batch") -> int:
    """This rank's share of a global ``count`` (``count / world``).

    Raises:
        BenchmarkError: ``count`` is not a multiple of the world size.
    """
    world = world_size()
    if count % world:
        raise BenchmarkError(f"{what} {count} cannot be split over {world} ranks: use a "
                             f"world size that divides it")
    return count // world


def init(backend: str | None = None) -> None:
    """Join the default process group from torchrun's environment (idempotent).

    ``backend``: ``nccl`` or ``gloo``; default ``nccl`` when CUDA is available, else ``gloo``.
    On CUDA, the current device becomes ``cuda:LOCAL_RANK``.

    Raises:
        BenchmarkError: not started by torchrun (no ``RANK`` / ``WORLD_SIZE``).
    """
    if dist.is_initialized():
        return
    if not launched():
        raise BenchmarkError("distributed training needs torchrun's environment (RANK, "
                             "WORLD_SIZE, MASTER_ADDR, MASTER_PORT): start it with "
                             "torchrun --nproc_per_node=N -m benchmark ...")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend or ("nccl" if cuda else "gloo"), timeout=TIMEOUT)


def shutdown() -> None:
    """Leave the process group (no-op when not in one), every rank together: what still holds
    it (a DDP wrapper's reducer, in a reference cycle) collected first, then a barrier, so that
    no rank closes its connections while another still uses them, then the group destroyed.
    A group torn down at the interpreter's exit, or by one rank while its peer is still in a
    collective, aborts a process now and then (``terminate called without an active
    exception``: gloo's threads still joinable)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    gc.collect()
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


class _AllGather(torch.autograd.Function):
    """``all_gather`` with its gradient: forward gathers every rank's block; backward sums the
    gradients of the gathered tensor over the ranks (all-reduce) and keeps this rank's block."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        blocks = [torch.empty_like(x) for _ in range(world_size())]
        dist.all_gather(blocks, x.contiguous())
        return torch.cat(blocks, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        summed = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(summed)
        return summed.chunk(world_size(), dim=0)[rank()]


def all_gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` concatenated in rank order, differentiable: the gradient of each
    rank's block is summed over the ranks' losses and flows back to the rank that made it.
    With DDP's gradient mean, a loss whose anchors are this rank's rows and whose candidates
    are the gathered rows then has exactly the gradient of the same loss on the concatenated
    batch. Identity when not distributed.

    Shape:
        x: ``[B, ...]``, the same shape on every rank. Output: ``[world * B, ...]``.
    """
    if not is_distributed():
        return x
    return _AllGather.apply(x)


@torch.no_grad()
def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` concatenated in rank order, without gradient (labels, keys to
    enqueue). Identity (detached) when not distributed.

    Shape:
        x: ``[B, ...]``, the same shape on every rank. Output: ``[world * B, ...]``.
    """
    if not is_distributed():
        return x.detach()
    blocks = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(blocks, x.detach().contiguous())
    return torch.cat(blocks, dim=0)


@torch.no_grad()
def mean_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over the ranks (a logged metric); ``x`` when not distributed."""
    if not is_distributed():
        return x
    total = x.detach().clone()
    if not total.is_floating_point():
        total = total.float()
    dist.all_reduce(total)
    return total / world_size()


def rank_labels(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Episode-local labels made distinct across ranks: rank ``r``'s label ``l`` becomes
    ``l + r * L`` with ``L`` one more than the largest label on any rank. Returns this rank's
    labels and every rank's (concatenated in rank order); ``(labels, labels)`` when not
    distributed.

    Shape:
        labels: ``[B]`` int, the same ``B`` on every rank. Outputs: ``[B]``, ``[world * B]``.
    """
    if not is_distributed():
        return labels, labels
    every = gather_no_grad(labels).view(world_size(), -1)
    span = int(every.max()) + 1
    every = every + span * torch.arange(world_size(), device=labels.device)[:, None]
    return every[rank()], every.reshape(-1)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` (any picklable value) on every rank; ``obj`` when not distributed."""
    if not is_distributed():
        return obj
    box = [obj if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
