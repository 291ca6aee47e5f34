"""The N-way InfoNCE loss (Sohn 2016; Oord et al. 2018): one positive against many negatives."""

from __future__ import annotations

import torch

from benchmark.episodes.episode import Episode
from benchmark.losses import infonce
from benchmark.methods.base import DistanceMethod, register_method


@register_method(
    "infonce", "N-way InfoNCE: each query picks one same-class support view against all other classes' views"
)
class InfoNCE(DistanceMethod):
    """Anchors are the query embeddings, candidates the support embeddings; every (query,
    same-class support) pair is one term of the N-way loss, with the support views of the other
    classes as negatives. No projector.

    Args:
        distance: ``"euclidean"`` (squared) or ``"cosine"`` (negative cosine similarity).
        temperature: distance divisor.
    """


    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        positives = episode.query_labels[:, None] == episode.support_labels[None, :]
        loss, acc = infonce(query, support, positives, self.distance, self.temperature)
        return {"loss": loss, "acc": acc}
