"""Reusable parts of methods: the projection MLP and the momentum (EMA) update of a target network."""

from benchmark.modules.momentum import frozen_copy, update_momentum
from benchmark.modules.projector import ProjectionMLP

__all__ = ["ProjectionMLP", "frozen_copy", "update_momentum"]
