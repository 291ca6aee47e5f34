"""R2-D2 (Bertinetto et al. 2019): a ridge-regression classifier fitted to the support features
in closed form inside every episode, differentiated through, with a learned ridge and scale."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.methods.adaptation import support_normalised
from benchmark.methods.base import Method, check_positive, register_method


def ridge_solve(features: torch.Tensor, targets: torch.Tensor, ridge: torch.Tensor | float) -> torch.Tensor:
    """The ridge-regression weights ``W = argmin |X W - Y|² + λ |W|²`` in closed form:
    ``(XᵀX + λI)⁻¹ XᵀY``, computed as ``Xᵀ(XXᵀ + λI)⁻¹Y`` (Woodbury) when there are fewer
    samples than dimensions, so the system solved is never larger than ``min(S, D)``.

    Shape:
        features: ``[S, D]``, targets: ``[S, N]``. Output: ``[D, N]``.
    """
    samples, dim = features.shape
    if samples < dim:
        gram = features @ features.T + ridge * torch.eye(samples, dtype=features.dtype, device=features.device)
        return features.T @ torch.linalg.solve(gram, targets)
    gram = features.T @ features + ridge * torch.eye(dim, dtype=features.dtype, device=features.device)
    return torch.linalg.solve(gram, features.T @ targets)


@register_method(
    "r2d2", "R2-D2: differentiable closed-form ridge regression on the support features, learned scale"
)
class R2D2(Method):
    """Per episode: ridge regression from support features to one-hot labels (``ridge_solve``),
    logits ``scale · X_query W``, cross-entropy over the queries; the backbone, the ridge ``λ``
    (learned as ``log λ``) and ``scale`` are trained through the closed form. Support and query
    are embedded in one backbone call (``Method.forward``). The published additive offset is
    left out: a constant added to every logit leaves the cross-entropy unchanged.

    The ``native`` head fits the same ridge on each test episode's support features (batch
    norm on the support's statistics, ``support_normalised``) and takes the arg-max of the
    queries' scores.

    Args:
        ridge: initial λ (> 0).
        scale: initial logit scale (> 0).
    """

    needs = frozenset({"classes"})
    needs_hint = "patch episodes have no fixed N-way classes per support"

    def __init__(self, backbone: nn.Module, ridge: float = 1.0, scale: float = 10.0) -> None:
        super().__init__(backbone)
        check_positive(self.name, ridge=ridge, scale=scale)
        self.log_ridge = nn.Parameter(torch.tensor(math.log(ridge)))
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def scores(self, support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor, ways: int) -> torch.Tensor:
        """Query logits ``[Q, N]`` of the ridge classifier fitted on support ``[S, D]`` (labels ``[S]``)."""
        precise = torch.promote_types(support.dtype, torch.float32)  # no solve in half precision
        support, query = support.to(precise), query.to(precise)
        weights = ridge_solve(support, F.one_hot(labels, ways).to(precise), self.log_ridge.exp())
        return self.scale * (query @ weights)

    def episode_loss(self, support: torch.Tensor, query: torch.Tensor, episode: Episode) -> dict[str, torch.Tensor]:
        logits = self.scores(support, episode.support_labels, query, episode.ways)
        loss = F.cross_entropy(logits, episode.query_labels)
        return {"loss": loss, "logits": logits,
                "ridge": self.log_ridge.detach().exp(), "scale": self.scale.detach()}

    def adapt_predict(self, episode: Episode) -> torch.Tensor:
        """Query labels ``[N*Q]`` of the ridge fitted on the support, batch norm on the support's
        statistics (``support_normalised``, as MAML and ANIL)."""
        model = support_normalised(self, episode.support)
        with torch.no_grad():
            support, query = model.embed(episode.support), model.embed(episode.query)
            return self.scores(support, episode.support_labels, query, episode.ways).argmax(1)
