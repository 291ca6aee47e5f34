"""SimCLR (Chen et al. 2020): NT-Xent over two views per image through an MLP projector."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.losses import sup_con
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method, check_positive, register_method
from benchmark.modules.projector import build_projector

#: What SimCLR's evaluation may embed.
EMBED_FROM = ("backbone", "projector")


@register_method(
    "simclr", "SimCLR: NT-Xent (cosine / τ, 2B-2 negatives) through an MLP projector; supervised contrastive on labels"
)
class SimCLR(Method):
    """Every support and query view is an anchor; the other views of its class (its image, on
    augmentation episodes) are positives, all remaining views negatives. On an augmentation
    episode with one support and one query view per image this is exactly NT-Xent over the 2B
    views; on labelled episodes it is the supervised contrastive loss. The loss sees the
    projector's output; ``embed`` (evaluation) returns the backbone's features by default.

    Published recipe: ``tasks/reproduce/simclr_moco_byol.yaml`` (projector ``mlp_bn_out``, as
    SimCLR's code and lightly's head, both views augmented). Differences that remain: Conv-4
    on Omniglot with PsCo's optimisation (the paper has no Omniglot run); no LARS.

    Args:
        temperature: τ of the cosine similarities.
        projector: a registered projector (``benchmark.modules.projector.PROJECTORS``): ``mlp``
            (SimCLR's paper), ``mlp_bn_out`` (SimCLR's code: BatchNorm), ``mlp_bn``, ``linear``
            or ``none``.
        projector_dim: output size of the projector (``mlp``, ``linear``).
        projector_hidden: hidden size of the ``mlp`` projector (0: the backbone's ``out_dim``).
        embed_from: what evaluation embeds: ``backbone`` (before the projector, SimCLR's
            choice) or ``projector`` (after it).
        same_side_negatives: also contrast against views of the same side (SimCLR: True;
            False contrasts support only against query, as a ProtoNet does).
        symmetric: anchors on both sides (SimCLR: True; False keeps query anchors only).
    """

    across_ranks = True

    def __init__(
        self,
        backbone: nn.Module,
        temperature: float = 0.5,
        projector: str = "mlp",
        projector_dim: int = 128,
        projector_hidden: int = 0,
        embed_from: str = "backbone",
        same_side_negatives: bool = True,
        symmetric: bool = True,
    ) -> None:
        super().__init__(backbone)
        hidden = projector_hidden or backbone.out_dim
        check_positive(self.name, temperature=temperature, projector_dim=projector_dim, projector_hidden=hidden)
        if embed_from not in EMBED_FROM:
            raise BenchmarkError(f"method {self.name!r}: embed_from must be one of "
                                 f"{', '.join(EMBED_FROM)}, got {embed_from!r}")
        self.projector = build_projector(projector, backbone.out_dim, hidden, projector_dim)
        self.embed_from = embed_from
        self.temperature = temperature
        self.same_side_negatives = same_side_negatives
        self.symmetric = symmetric

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluation features: the backbone's, or the projector's when ``embed_from`` says so.

        Shape:
            x: ``[B, C, H, W]``. Output: ``[B, D]`` (``D``: the projector's size after it).
        """
        features = self.backbone(x)
        return self.projector(features) if self.embed_from == "projector" else features

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        views = self.projector(torch.cat([support, query]))
        labels = torch.cat([episode.support_labels, episode.query_labels])
        sides = torch.cat([torch.zeros_like(episode.support_labels), torch.ones_like(episode.query_labels)])
        loss, acc = sup_con(
            views, labels, self.temperature, sides=sides,
            same_side_negatives=self.same_side_negatives, symmetric=self.symmetric,
            across_ranks=self.across_ranks,
        )
        return {"loss": loss, "acc": acc}
