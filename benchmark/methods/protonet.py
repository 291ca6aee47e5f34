"""ProtoNet (Snell et al. 2017): queries classified by distance to mean support embeddings."""

from __future__ import annotations

import torch

from benchmark.episodes.episode import Episode
from benchmark.losses import prototypical_loss
from benchmark.methods.base import DistanceMethod, register_method


@register_method(
    "protonet", "Prototypical Networks: softmax over -squared Euclidean (or scaled cosine) distance to class means"
)
class ProtoNet(DistanceMethod):
    """Prototype = mean support embedding; logits = ``-distance / temperature``; cross-entropy over queries.

    Published recipe: ``tasks/reproduce/protonet.yaml`` (Snell et al.: 60-way episodes, Adam
    1e-3 halved every 2,000 episodes, retrained on train + validation). Differences that
    remain: stage 1's early-stopped episode count is carried to stage 2 by hand.

    Args:
        distance: ``"euclidean"`` (squared) or ``"cosine"`` (negative cosine; scaled cosine
            with scale ``1 / temperature``).
        temperature: logit divisor (use ≈ 0.1 with cosine).
    """

    needs = frozenset({"classes"})
    needs_hint = "for unlabelled patch episodes use 'protoclr' or a contrastive method"

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        loss, acc = prototypical_loss(
            support, episode.support_labels, query, episode.query_labels, episode.ways,
            self.distance, self.temperature,
        )
        return {"loss": loss, "acc": acc}
