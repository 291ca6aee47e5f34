"""Triplet loss with negative mining (Schroff et al. 2015; Hermans et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.episodes.episode import Episode, Task
from benchmark.errors import BenchmarkError
from benchmark.losses import MINERS, triplet_loss
from benchmark.methods.base import Method, check_positive, nearest_support_accuracy, register_method


@register_method(
    "triplet", "triplet loss max(0, d(a,p) - d(a,n) + margin) with batch-all, batch-hard or semi-hard mining"
)
class Triplet(Method):
    """Triplets are mined over all support and query embeddings of the episode (same label =
    positive). Accuracy: each query's nearest support view shares its label.

    Args:
        margin: ε of the hinge (in squared distance units).
        mining: ``"all"``, ``"hard"`` or ``"semi-hard"`` (``benchmark.losses.MINERS``).
        normalize: L2-normalise embeddings before the distances (so the margin has a fixed scale).
    """


    def __init__(
        self, backbone: nn.Module, margin: float = 0.2, mining: str = "semi-hard", normalize: bool = True
    ) -> None:
        super().__init__(backbone)
        MINERS.get(mining)
        check_positive(self.name, margin=margin)
        self.margin = margin
        self.mining = mining
        self.normalize = normalize

    def check(self, task: Task) -> None:
        """As ``Method.check``, and at least 2 ways (negatives)."""
        super().check(task)
        if task.ways < 2:
            raise BenchmarkError(f"method {self.name!r} needs at least 2 ways (negatives), got {task.ways}")

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        if self.normalize:
            support, query = F.normalize(support, dim=1), F.normalize(query, dim=1)
        emb = torch.cat([support, query])
        labels = torch.cat([episode.support_labels, episode.query_labels])
        loss = triplet_loss(emb, labels, self.margin, self.mining)
        acc = nearest_support_accuracy(support, episode.support_labels, query, episode.query_labels)
        return {"loss": loss, "acc": acc}
