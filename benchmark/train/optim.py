"""Optimisers and learning-rate schedules (registries), and how a run builds them from its config."""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterable

import torch

from benchmark.registry import Registry

if TYPE_CHECKING:
    from benchmark.methods.base import Method
    from benchmark.train.config import TrainConfig

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
#: ``schedule(progress, step) -> lr factor``: ``progress`` in ``[0, 1]`` of the step budget after
#: warm-up, ``step`` the 0-based step counted from the end of warm-up.
SCHEDULES: Registry[Callable[[float, int], float]] = Registry("schedule")

#: Snell et al. 2017 (jakesnell/prototypical-networks: ``decay_every`` 20 epochs of 100 episodes,
#: StepLR gamma 0.5): the learning rate is halved every this many episodes.
HALVE_EVERY = 2000

# Optimisers use foreach=True: one batched update for all parameter tensors; torch picks the
# per-tensor loop on CPU otherwise, which was ~9% of a Conv-4 ProtoNet step here.


@OPTIMIZERS.register("adam", "Adam; weight decay as an L2 term")
def _adam(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


@OPTIMIZERS.register("adamw", "AdamW; decoupled weight decay")
def _adamw(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


@OPTIMIZERS.register("sgd", "SGD with momentum (Nesterov optional)")
def _sgd(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
        nesterov=config.nesterov, foreach=True,
    )


@SCHEDULES.register("constant", "constant learning rate")
def _constant(progress: float, step: int) -> float:
    return 1.0


@SCHEDULES.register("cosine", "cosine decay to 0 over the step budget")
def _cosine(progress: float, step: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@SCHEDULES.register("step", "x0.1 at 50% and again at 75% of the step budget")
def _step(progress: float, step: int) -> float:
    return 0.1 ** sum(progress >= milestone for milestone in (0.5, 0.75))


@SCHEDULES.register("halve2000", "x0.5 every 2,000 steps, whatever the budget (ProtoNet, Snell et al.)")
def _halve2000(progress: float, step: int) -> float:
    return 0.5 ** (step // HALVE_EVERY)


#: The schedules that never read ``progress`` (the fraction of the budget): a run on one of them
#: may go on to a larger STEP COUNT as if it had started with it (``benchmark.train.budget``).
BUDGET_FREE_SCHEDULES = frozenset({"constant", "halve2000"})


def lr_factor(schedule: str, warmup_steps: int, total_steps: int, step: int) -> float:
    """Learning-rate multiplier for 0-based ``step``: linear warm-up, then ``schedule``."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    after = max(0, step - warmup_steps)
    progress = after / max(1, total_steps - warmup_steps)
    return warm * SCHEDULES.get(schedule)(progress, after)


def build_optimizer(method: Method, config: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimiser over ``method.trainable_parameters()`` (and nothing else)."""
    return OPTIMIZERS.get(config.optimizer)(list(method.trainable_parameters()), config)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up + schedule as a LambdaLR stepped once per training step."""
    factor = partial(lr_factor, config.schedule, config.warmup_steps, config.steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)

