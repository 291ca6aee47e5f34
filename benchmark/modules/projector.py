"""Projectors that contrastive methods put between the backbone and their loss (a registry):
``mlp`` (this suite's default, no normalisation), ``mlp_bn`` (BYOL's and PsCo's: BatchNorm in the
hidden layer), ``mlp_bn_out`` (SimCLR's code and lightly's SimCLR head: BatchNorm after the
output too), ``linear``, ``none``."""

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


class BatchNormMLP(nn.Sequential):
    """``Linear(in_dim, hidden_dim, bias=False) - BatchNorm1d - ReLU - Linear(hidden_dim, out_dim)``,
    with ``out_bn`` a last ``BatchNorm1d(out_dim)`` (and no bias in the output Linear).

    BYOL (Grill et al. 2020, Sec. 3.3 / App. J) and PsCo (Jang et al. 2023, their code's
    projector) use the first form, 4096-d hidden and 256-d out; SimCLR's code (Chen et al.
    2020, ``use_batch_norm`` in the head) and lightly's ``SimCLRProjectionHead`` the second. The
    Linear before a BatchNorm has no bias (the BatchNorm's shift replaces it), as theirs.

    Shape:
        input: ``[B, in_dim]`` (B >= 2 in training: batch statistics). Output: ``[B, out_dim]``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, out_bn: bool = False) -> None:
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim),
                                   nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim, bias=not out_bn)]
        if out_bn:
            layers.append(nn.BatchNorm1d(out_dim))
        super().__init__(*layers)


@PROJECTORS.register("mlp", "Linear - ReLU - Linear (SimCLR's paper, no normalisation)")
def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return ProjectionMLP(in_dim, hidden_dim, out_dim)


@PROJECTORS.register("mlp_bn", "Linear - BatchNorm - ReLU - Linear (BYOL, PsCo)")
def _mlp_bn(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return BatchNormMLP(in_dim, hidden_dim, out_dim)


@PROJECTORS.register("mlp_bn_out", "Linear - BatchNorm - ReLU - Linear - BatchNorm (SimCLR's code, lightly)")
def _mlp_bn_out(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return BatchNormMLP(in_dim, hidden_dim, out_dim, out_bn=True)


@PROJECTORS.register("linear", "one Linear layer to the projector's output size")
def _linear(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return nn.Linear(in_dim, out_dim)


@PROJECTORS.register("none", "no projector: the loss sees the backbone's features")
def _none(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    return nn.Identity()


def build_projector(name: str, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    """The registered projector ``name`` (BenchmarkError listing the known ones otherwise)."""
    return PROJECTORS.get(name)(in_dim, hidden_dim, out_dim)
