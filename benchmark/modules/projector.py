"""The projection MLP that contrastive methods put between the backbone and their loss."""

from __future__ import annotations

from torch import nn


class ProjectionMLP(nn.Sequential):
    """``Linear(in_dim, hidden_dim) - ReLU - Linear(hidden_dim, out_dim)`` (SimCLR's projector).

    The layers are built (and so initialised from the torch RNG) in that order; their
    ``state_dict`` keys are ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``.

    Shape:
        input: ``[B, in_dim]``. Output: ``[B, out_dim]``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))
