"""Momentum (EMA) target networks, as in MoCo and BYOL: a frozen copy updated after each step."""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

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
