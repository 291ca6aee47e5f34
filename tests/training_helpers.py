"""Helpers shared by the method and training test modules (imported, never copied): hand-made
episodes (``template_episode``) and what a registered sampler's episodes offer, and SimCLR's
two-view NT-Xent as ``sup_con`` computes it."""

from __future__ import annotations

import torch

from benchmark.episodes.episode import Episode
from benchmark.losses import sup_con
from benchmark.samplers import SAMPLERS

#: The image shape of ``template_episode``.
SHAPE = (1, 16, 16)


def offers_of(kind: str) -> frozenset[str]:
    """What episodes of sampler ``kind`` offer a method (nothing for an unregistered kind)."""
    return SAMPLERS.get(kind).offers if kind in SAMPLERS.names() else frozenset()


def two_view_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, *,
                     same_side_negatives: bool = True,
                     symmetric: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """SimCLR's NT-Xent over the 2B views ``z1[i], z2[i]`` of image ``i``: ``sup_con`` with
    instance labels and the two views as sides (checked against a loop in test_losses)."""
    ids = torch.arange(len(z1), device=z1.device)
    return sup_con(torch.cat([z1, z2]), torch.cat([ids, ids]), temperature,
                   sides=torch.cat([torch.zeros_like(ids), torch.ones_like(ids)]),
                   same_side_negatives=same_side_negatives, symmetric=symmetric)


def template_episode(ways: int = 3, shots: int = 2, queries: int = 2, seed: int = 0,
            kind: str = "labels") -> Episode:
    """Noisy class templates, class-major, a pure function of the seed (``SHAPE`` images)."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(99))
    class_ids = torch.randperm(8, generator=g)[:ways]

    def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(ways).repeat_interleave(per_class)
        noise = 0.3 * torch.rand(len(labels), *SHAPE, generator=g)
        return (0.7 * templates[class_ids[labels]] + noise).clamp(0, 1), labels

    support, support_labels = draw(shots)
    query, query_labels = draw(queries)
    return Episode(support, support_labels, query, query_labels, class_ids, ways, shots, queries,
                   kind, seed, offers_of(kind))
