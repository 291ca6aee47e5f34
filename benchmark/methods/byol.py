"""BYOL (Grill et al. 2020): predict an EMA target's projection of another view; no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.losses import byol_loss
from benchmark.methods.base import check_positive, register_method
from benchmark.methods.momentum_base import MomentumMethod


@register_method(
    "byol", "BYOL: online projector + predictor regress an EMA target's projection of the other view"
)
class BYOL(MomentumMethod):
    """The online network (backbone, projector, predictor) predicts the target network's
    (EMA backbone, projector) normalised output on the other view of the image; the loss is
    symmetric by default. Nothing pushes embeddings apart, so collapse is held off only by the
    predictor and the slowly moving target: ``embedding_std`` (logged every step) falls to 0
    if it collapses. ``acc``: the fraction of pairs whose prediction is closest (cosine) to its
    own target among the batch's targets, a diagnostic only (not trained for).

    Published recipe: ``tasks/reproduce/simclr_moco_byol.yaml`` (projector ``mlp_bn`` and
    predictor with BN, 4096 hidden, 256 out; momentum 0.996 rising to 1; both views augmented,
    one forward pass per view). Parity with lightly's BYOL: ``results/parity.md`` (three seeds).
    Differences that remain: the default here (momentum 0.99, BN-free projector) is not the
    paper's; no LARS; the loss is ``2 - 2 cos`` (the paper's normalised MSE, twice lightly's
    negative cosine: the same gradient direction).

    Args:
        momentum, momentum_schedule: the target's EMA (BYOL: 0.996 rising to 1, ``cosine``).
        projector, projector_dim, projector_hidden: the projector (BYOL: an MLP).
        predictor_hidden: the predictor MLP's hidden size (must be > 0 for BYOL to learn).
        symmetric: the loss of both views.
        view_batching: ``joint`` (both views in one forward pass: BatchNorm sees 2B images)
            or ``separate`` (one pass per view, as BYOL's code and lightly's example).
    """


    def __init__(
        self,
        backbone: nn.Module,
        momentum: float = 0.99,
        momentum_schedule: str = "cosine",
        projector: str = "mlp",
        projector_dim: int = 128,
        projector_hidden: int = 0,
        predictor_hidden: int = 256,
        symmetric: bool = True,
        view_batching: str = "joint",
    ) -> None:
        check_positive(self.name, predictor_hidden=predictor_hidden)
        super().__init__(backbone, momentum, momentum_schedule, projector, projector_dim,
                         projector_hidden, predictor_hidden, symmetric, view_batching)

    def pair_loss(self, online: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            nearest = (F.normalize(online, dim=1) @ target.T).argmax(1)
            acc = (nearest == torch.arange(len(online), device=online.device)).float().mean()
        return {"loss": byol_loss(online, target), "acc": acc}
