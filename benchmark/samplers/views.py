"""The shared core of the unlabelled episode samplers: N images become N classes of views.

An episode picks N distinct images of the split (``class_ids`` are their indices) and
makes K support and Q query views of each; subclasses say how a view is made from an
image and its uniforms. Everything after the per-seed draws is batched over the episodes.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from benchmark.data.split import Split, unit_float
from benchmark.episodes.batch import EpisodeBatch
from benchmark.samplers.base import Sampler, check_split
from benchmark.samplers.draws import DISTINCT_UNIFORMS, choose_distinct, uniforms
from benchmark.errors import BenchmarkError


def _support_first(t: torch.Tensor, shots: int) -> torch.Tensor:
    """``[B, N, K+Q, ...]`` → ``[B, N*K + N*Q, ...]``: the support views, then the query views."""
    return torch.cat([t[:, :, :shots].flatten(1, 2), t[:, :, shots:].flatten(1, 2)], 1)


class ViewSampler(Sampler):
    """Episodes whose classes are images and whose examples are views of them."""

    #: uniforms drawn once per image (shared by its views) and once per view
    per_image: int = 0
    per_view: int = 0

    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device) -> None:
        super().__init__(ways, shots, queries, device)
        check_split(split, ways, shots, queries)
        if ways > len(split):
            raise BenchmarkError(
                f"ways N={ways} exceeds the {len(split)} images of {split.dataset}/{split.name}"
            )
        self.split = split
        self.images = split.images.to(self.device)

    @abstractmethod
    def make_views(self, images: torch.Tensor, image_u: torch.Tensor, view_u: torch.Tensor) -> torch.Tensor:
        """Views ``[M, C, h, w]`` of ``images [M, C, H, W]`` (float in [0, 1], one row per
        view), from ``image_u [M, per_image]`` (equal for views of one image) and
        ``view_u [M, per_view]``."""

    def _draw(self, seeds: list[int]) -> EpisodeBatch:
        n, k, q = self.ways, self.shots, self.queries
        b, v, count = len(seeds), k + q, len(self.split)
        head = DISTINCT_UNIFORMS * n
        u = uniforms(seeds, head + n * self.per_image + n * v * self.per_view)
        chosen = torch.from_numpy(choose_distinct(u[:, :head], count)).to(self.device)
        u = torch.from_numpy(u[:, head:]).to(self.device)
        image_u = u[:, : n * self.per_image].view(b, n, 1, self.per_image)
        view_u = u[:, n * self.per_image:].view(b, n, v, self.per_view)
        rows = _support_first(chosen[:, :, None].expand(b, n, v), k).flatten()
        image_u = _support_first(image_u.expand(b, n, v, self.per_image), k).flatten(0, 1)
        view_u = _support_first(view_u, k).flatten(0, 1)
        images = unit_float(self.images.index_select(0, rows))
        views = self.make_views(images, image_u.to(torch.float32), view_u.to(torch.float32))
        views = views.view(b, n * v, *views.shape[1:])
        return self.episodes(views, chosen, seeds)
