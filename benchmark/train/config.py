"""``TrainConfig``: everything that decides a training run, besides the method and its episodes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from benchmark.errors import BenchmarkError, refuse_unknown
from benchmark.train.optim import OPTIMIZERS, SCHEDULES


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run, besides the method and its episodes.

    Attributes:
        steps: optimisation steps (one episode each).
        optimizer: a registered optimiser (``OPTIMIZERS``): ``adam``, ``adamw``, ``sgd``.
        lr, weight_decay: learning rate and weight decay.
        momentum, nesterov: SGD momentum and Nesterov flag (ignored by Adam).
        schedule: a registered learning-rate schedule (``SCHEDULES``): constant, cosine, step.
        warmup_steps: linear warm-up steps before the schedule.
        val_every: validate every this many steps (and at the end); 0 validates only at the end.
        val_episodes: episodes the caller's validator uses (see ``evaluate.validator``).
        log_every: progress-bar refresh and CSV flush interval.
        checkpoint_every: write ``last.pt`` every this many steps (and at the end).
        seed: seeds the generators at the start and every episode (``episode_seed``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (autocast float16 + GradScaler); used on CUDA only.
        channels_last: channels-last memory format for the model and the episode images
            (≈1.3x faster convolutions on CPU; the default).
        progress: tqdm progress bar; ``None`` shows it when stderr is a terminal.
        tensorboard: also log to ``run_dir/tensorboard`` when TensorBoard is installed.
    """

    steps: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "constant"
    warmup_steps: int = 0
    val_every: int = 0
    val_episodes: int = 100
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = True
    progress: bool | None = None
    tensorboard: bool = True

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.optimizer)
        SCHEDULES.get(self.schedule)
        for name in ("steps", "log_every", "checkpoint_every", "val_episodes"):
            if getattr(self, name) < 1:
                raise BenchmarkError(f"train config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "val_every"):
            if getattr(self, name) < 0:
                raise BenchmarkError(f"train config: {name} must be >= 0, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BenchmarkError(f"train config: lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise BenchmarkError("train config: weight_decay must be >= 0 and momentum in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise BenchmarkError("train config: nesterov needs momentum > 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """A config from a dict; unknown keys are refused with one clear line."""
        refuse_unknown("train config", "key", data, sorted(f.name for f in fields(cls)))
        return cls(**data)

