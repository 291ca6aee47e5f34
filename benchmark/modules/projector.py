"""Projectors that contrastive methods put between the backbone and their loss (a registry):
``mlp`` (SimCLR's), ``linear``, ``none``."""

from __future__ import annotations

from typing import Callable

from torch import nn

from benchmark.registry import Registry

#: ``build(in_dim, hidden_dim, out_dim) -> nn.Module``.
PROJECTORS: Registry[Callable[[int, int, int], nn.Module]] = Registry("projector")


class ProjectionMLP(nn.Sequential):
    """``Linear(in_dim, hidden_dim) - ReLU - Linear(hidden_dim, out_dim)`` (SimCLR's projector).

    The layers are built (and so initialised from the torch RNG) in that order; their
    ``state_dict`` keys are ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``.

    Shape:
        input: ``[B, in_dim]``. Output: ``[B, out_dim]``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


@PROJECTORS.register("mlp", "Linear - ReLU - Linear (SimCLR)")
def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return ProjectionMLP(in_dim, hidden_dim, out_dim)


@PROJECTORS.register("linear", "one Linear layer to the projector's output size")
def _linear(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return nn.Linear(in_dim, out_dim)


@PROJECTORS.register("none", "no projector: the loss sees the backbone's features")
def _none(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return nn.Identity()


def build_projector(name: str, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    """The registered projector ``name`` (BenchmarkError listing the known ones otherwise)."""
    return PROJECTORS.get(name)(in_dim, hidden_dim, out_dim)
