"""``pretrained``: an encoder evaluated as it is, with no training (bring your own model)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.backbones import Backbone, load_weights
from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method, register_method


@register_method(
    "pretrained", "an encoder evaluated as it is, no training: weights from a file, the library "
    "(weights: library) or random"
)
class Pretrained(Method):
    """A backbone with given weights; the runner evaluates it without training (``trains``).

    Args:
        weights: a weights file (a ``.pth`` state dict, a timm / torchvision checkpoint or a
            benchmark checkpoint), ``"library"`` for a ``library:model`` backbone's own
            pretrained weights (a download), or None for the backbone's random initialisation.
    """

    trains = False

    def __init__(self, backbone: nn.Module, weights: str | None = None) -> None:
        super().__init__(backbone)
        if weights is not None and not isinstance(weights, str):
            raise BenchmarkError(f"method 'pretrained': weights must be a path or 'library', got {weights!r}")
        self.weights = weights
        if weights is not None and isinstance(backbone, Backbone):
            load_weights(backbone, weights)

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor,
                     episode: Episode) -> dict[str, torch.Tensor]:
        raise BenchmarkError("method 'pretrained' is evaluated as it is; it does not train")
