"""Augmented-view episodes (SimCLR-style): N unlabelled images, K+Q augmented views each."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from benchmark.data.split import Split
from benchmark.data.builder import dataset_kind
from benchmark.transforms.presets import build_preset, preset_for_kind
from benchmark.transforms.view_augment import NUM_UNIFORMS, ViewAugment
from benchmark.samplers.base import register_sampler
from benchmark.samplers.views import ViewSampler
from benchmark.errors import BenchmarkError


@register_sampler("augment", "N unlabelled images as classes, K+Q augmented views each (SimCLR)")
class AugmentSampler(ViewSampler):
    """SimCLR is ``ways=batch size, shots=1, queries=1``; ProtoCLR as published (Medina et
    al. 2020) is ``shots=1, augment_support=False``: the support view is the image itself.

    Args:
        split: images (labels are ignored).
        ways, shots, queries: N images per episode, K support and Q query views each.
        device: where the split is kept and views are made.
        preset: a registered augmentation preset (``benchmark.transforms.presets``); default:
            the preset of the split's dataset kind (``glyphs`` for Omniglot and MNIST,
            ``simclr`` otherwise).
        augment: a ``ViewAugment``, or a mapping of knobs overriding the preset's fields.
        augment_support: False makes every support view the un-augmented image (resized).
    """

    offers = frozenset({"classes", "instances"})

    per_view = NUM_UNIFORMS

    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device = "cpu", preset: str | None = None,
                 augment: ViewAugment | Mapping[str, Any] | None = None,
                 augment_support: bool = True) -> None:
        super().__init__(split, ways, shots, queries, device)
        channels, height, width = split.image_shape
        if augment is None or isinstance(augment, Mapping):
            name = preset or preset_for_kind(dataset_kind(split.dataset))
            augment = build_preset(name, (height, width), channels).with_knobs(dict(augment or {}))
        elif preset is not None:
            raise BenchmarkError("augment sampler: give a preset or a ViewAugment, not both")
        if not isinstance(augment, ViewAugment):
            raise BenchmarkError(f"augment sampler: augment must be a ViewAugment or a mapping, got {augment!r}")
        if not isinstance(augment_support, bool):
            raise BenchmarkError(f"augment sampler: augment_support must be true or false, got {augment_support!r}")
        self.augment = augment
        self.augment_support = augment_support

    def make_views(self, images: torch.Tensor, image_u: torch.Tensor, view_u: torch.Tensor) -> torch.Tensor:
        if self.augment_support:
            return self.augment(images, view_u)
        per_episode = self.ways * (self.shots + self.queries)
        query = torch.arange(len(images), device=images.device) % per_episode >= self.ways * self.shots
        views = self.augment.identity(images).clone()  # the support views; only queries are augmented
        views[query] = self.augment(images[query], view_u[query])
        return views
