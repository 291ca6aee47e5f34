"""Momentum (EMA) target networks, as in MoCo and BYOL: a frozen copy updated after each step,
with the momentum on a registered schedule (constant, or BYOL's cosine rise to 1)."""

from __future__ import annotations

import copy
import math
from typing import Callable, TypeVar

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry

M = TypeVar("M", bound=nn.Module)


def frozen_copy(module: M) -> M:
    """A deep copy of ``module`` whose parameters do not require gradients.

    Its parameters stay in the owner's ``state_dict`` (checkpoints and exact resume cover them)
    but out of ``Method.trainable_parameters``, hence out of the optimiser.
    """
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def update_momentum(target: nn.Module, online: nn.Module, m: float) -> None:
    """In place, for every parameter pair: ``target = m * target + (1 - m) * online``.

    Buffers (BatchNorm statistics) are left alone: the target keeps its own. ``m = 1`` leaves
    the target as it is, ``m = 0`` copies the online weights.

    Raises:
        ValueError: ``m`` outside ``[0, 1]``, or the two modules' parameters do not pair up
            (another count or shape).
    """
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {m}")
    targets, onlines = list(target.parameters()), list(online.parameters())
    if len(targets) != len(onlines) or any(t.shape != o.shape for t, o in zip(targets, onlines)):
        raise ValueError("update_momentum: target and online modules have different parameters")
    for t, o in zip(targets, onlines):
        t.mul_(m).add_(o.detach(), alpha=1.0 - m)


#: ``schedule(base, step, total_steps) -> m``: the momentum after step ``step`` of ``total_steps``.
MOMENTUM_SCHEDULES: Registry[Callable[[float, int, int], float]] = Registry("momentum schedule")


@MOMENTUM_SCHEDULES.register("constant", "m stays at its base value (MoCo)")
def constant_momentum(base: float, step: int, total_steps: int) -> float:
    """``base`` at every step."""
    return base


@MOMENTUM_SCHEDULES.register("cosine", "m rises from its base value to 1 on a half cosine (BYOL)")
def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL's schedule: ``1 - (1 - base) * (cos(pi * step / total_steps) + 1) / 2``; ``base``
    at step 0, 1 at the last step."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / max(total_steps, 1)) + 1.0) / 2.0


#: The momentum schedules that never read ``total_steps`` (``benchmark.train.budget``).
BUDGET_FREE_MOMENTUM = frozenset({"constant"})


def check_momentum(method: str, momentum: float, schedule: str) -> None:
    """BenchmarkError unless ``momentum`` is in ``[0, 1)`` (1 would never move the target) and
    ``schedule`` is a registered momentum schedule."""
    MOMENTUM_SCHEDULES.get(schedule)
    if not 0.0 <= momentum < 1.0:
        raise BenchmarkError(f"method {method!r}: momentum must be in [0, 1), got {momentum}")
