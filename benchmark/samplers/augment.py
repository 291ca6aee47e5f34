"""Augmented-view episodes (SimCLR-style): N unlabelled images, K+Q augmented views each."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from benchmark.data.split import Split
from benchmark.transforms.view_augment import NUM_UNIFORMS, ViewAugment
from benchmark.samplers.base import register_sampler
from benchmark.samplers.views import ViewSampler
from benchmark.errors import BenchmarkError


@register_sampler("augment", "N unlabelled images as classes, K+Q augmented views each (SimCLR)")
class AugmentSampler(ViewSampler):
    """SimCLR is ``ways=batch size, shots=1, queries=1``.

    Args:
        split: images (labels are ignored).
        ways, shots, queries: N images per episode, K support and Q query views each.
        device: where the split is kept and views are made.
        augment: a ``ViewAugment``, or a mapping of knobs overriding
            ``ViewAugment.simclr(image size, channels)`` (the default).
    """

    per_view = NUM_UNIFORMS

    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device = "cpu",
                 augment: ViewAugment | Mapping[str, Any] | None = None) -> None:
        super().__init__(split, ways, shots, queries, device)
        channels, height, width = split.image_shape
        if augment is None or isinstance(augment, Mapping):
            augment = ViewAugment.simclr((height, width), channels, **dict(augment or {}))
        if not isinstance(augment, ViewAugment):
            raise BenchmarkError(f"augment sampler: augment must be a ViewAugment or a mapping, got {augment!r}")
        self.augment = augment

    def make_views(self, images: torch.Tensor, image_u: torch.Tensor, view_u: torch.Tensor) -> torch.Tensor:
        return self.augment(images, view_u)
