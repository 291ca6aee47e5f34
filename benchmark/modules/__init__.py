"""Reusable parts of methods: the projection MLPs (with or without BatchNorm), the momentum (EMA)
update of a target network and its schedules, the key queue and Sinkhorn-Knopp."""

from benchmark.modules.momentum import (MOMENTUM_SCHEDULES, check_momentum, cosine_momentum,
                                        frozen_copy, update_momentum)
from benchmark.modules.projector import BatchNormMLP, ProjectionMLP
from benchmark.modules.queue import KeyQueue
from benchmark.modules.sinkhorn import sinkhorn

__all__ = ["BatchNormMLP", "KeyQueue", "MOMENTUM_SCHEDULES", "ProjectionMLP", "check_momentum",
           "cosine_momentum", "frozen_copy", "sinkhorn", "update_momentum"]
