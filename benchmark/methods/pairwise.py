"""The pull-positives-together loss alone, kept on purpose: it collapses."""

from __future__ import annotations

import torch

from benchmark.episodes.episode import Episode
from benchmark.losses import pairwise_loss
from benchmark.methods.base import Method, nearest_support_accuracy, register_method


@register_method(
    "pairwise", "pull positives together (mean squared distance), no negatives: collapses, see embedding_std"
)
class Pairwise(Method):
    """Minimises the squared distance between every pair of same-label views (support and
    query), with nothing pushing negatives apart, so ``f(x) = constant`` is optimal: the
    ``embedding_std`` metric falls towards 0. A control showing why contrast is needed.
    Accuracy: each query's nearest support view shares its label.
    """


    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        emb = torch.cat([support, query])
        labels = torch.cat([episode.support_labels, episode.query_labels])
        loss = pairwise_loss(emb, labels)
        acc = nearest_support_accuracy(support, episode.support_labels, query, episode.query_labels)
        return {"loss": loss, "acc": acc}
