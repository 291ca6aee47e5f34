"""Reusable parts of methods: the projection MLP, the momentum (EMA) update of a target network
and its schedules, the key queue, Sinkhorn-Knopp, and learn2learn (``benchmark.optional``:
imported lazily, for the meta-learners' inner loop and the interoperability)."""

from benchmark.modules.momentum import (MOMENTUM_SCHEDULES, check_momentum, cosine_momentum,
                                        frozen_copy, update_momentum)
from benchmark.modules.projector import ProjectionMLP
from benchmark.modules.queue import KeyQueue
from benchmark.modules.sinkhorn import sinkhorn

__all__ = ["KeyQueue", "MOMENTUM_SCHEDULES", "ProjectionMLP", "check_momentum", "cosine_momentum",
           "frozen_copy", "sinkhorn", "update_momentum"]
