"""ProtoCLR (Ni et al. 2022): ProtoNet on augmented-view episodes, "contrastive learning is meta-learning"."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.losses import prototypical_loss
from benchmark.methods.protonet import ProtoNet
from benchmark.methods.base import register_method


@register_method(
    "protoclr", "ProtoNet loss on augmentation episodes (each image a class, K views → prototype), cosine / τ"
)
class ProtoCLR(ProtoNet):
    """ProtoNet trained without labels: each image is a class, its K support views make the
    prototype, its Q query views are classified. With one shot, cosine distance and temperature
    τ, the loss is the query-side half of NT-Xent without same-side negatives.

    Published recipe: ``tasks/reproduce/protoclr.yaml`` (Medina et al. 2020: 50 images x (1
    plain support + 3 augmented queries), squared Euclidean distance without temperature, Adam
    1e-3, train + validation). Differences that remain: this suite's ``glyphs`` augmentation;
    no early stopping on the merged set. The default here (cosine, τ 0.5) is not theirs.

    Args:
        distance: ``"cosine"`` (default) or ``"euclidean"``.
        temperature: logit divisor.
    """

    needs = frozenset({"instances"})
    needs_hint = "on labelled episodes it is 'protonet'"
    across_ranks = True

    def __init__(self, backbone: nn.Module, distance: str = "cosine", temperature: float = 0.5) -> None:
        super().__init__(backbone, distance=distance, temperature=temperature)

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        """ProtoNet's loss, with every rank's prototypes as candidates under torchrun."""
        loss, acc = prototypical_loss(
            support, episode.support_labels, query, episode.query_labels, episode.ways,
            self.distance, self.temperature, across_ranks=self.across_ranks,
        )
        return {"loss": loss, "acc": acc}
