"""Training: ``train(method, sampler, config, run_dir)``, the one loop for every method.

``config`` holds ``TrainConfig``; ``optim`` the optimiser and schedule registries; ``loop`` the
step, the checkpoints and the resume; ``metrics_log`` the per-step ``metrics.csv``.
"""

from benchmark.train.config import TrainConfig
from benchmark.train.loop import (
    DivergedError,
    TrainResult,
    TrainStep,
    Validator,
    episode_seed,
    place,
    seed_everything,
    step_seeds,
    train,
)
from benchmark.train.metrics_log import METRIC_COLUMNS, MetricsLog
from benchmark.train.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler, lr_factor

__all__ = [
    "METRIC_COLUMNS",
    "OPTIMIZERS",
    "SCHEDULES",
    "DivergedError",
    "MetricsLog",
    "TrainConfig",
    "TrainResult",
    "TrainStep",
    "Validator",
    "build_optimizer",
    "build_scheduler",
    "episode_seed",
    "lr_factor",
    "place",
    "seed_everything",
    "step_seeds",
    "train",
]
