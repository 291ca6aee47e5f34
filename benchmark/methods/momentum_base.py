"""The common part of MoCo, BYOL and PsCo: an online network trained on one view of each image
to match an EMA target network's output on another view."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method, check_positive
from benchmark.modules.momentum import (BUDGET_FREE_MOMENTUM, MOMENTUM_SCHEDULES, check_momentum,
                                       frozen_copy, update_momentum)
from benchmark.modules.projector import build_projector


#: How the two views of a step meet BatchNorm: ``joint``, one forward pass of both views (the
#: statistics of the 2B images); ``separate``, one pass per view (each view's own statistics),
#: as BYOL's and MoCo's published code and lightly's examples run their networks.
VIEW_BATCHING = ("joint", "separate")


class Predictor(nn.Sequential):
    """BYOL's predictor: ``Linear(dim, hidden) - BatchNorm1d - ReLU - Linear(hidden, dim)``.

    Shape:
        input: ``[B, dim]``. Output: ``[B, dim]``.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, dim))


class MomentumMethod(Method):
    """Online backbone → projector → predictor; target backbone → projector, an EMA of the
    online ones (``after_step``: ``target = m * target + (1 - m) * online``, ``m`` on the
    momentum schedule). Both start equal; the target gets no gradient and stays out of the
    optimiser, and is in ``state_dict`` (checkpoints and exact resume cover it).

    The two views of image ``i`` are its first support view and each of its query views (found
    through the episode's labels): on ``augment`` episodes with one shot and one query, the
    support view and the query view. Online and target embed both views in one call
    (``view_batching="joint"``) or one view a call (``"separate"``).
    Subclasses implement ``pair_loss`` (online outputs of one view against target outputs of the
    other); with ``symmetric`` each view is predicted from the other and the two losses are
    averaged. ``store_keys`` gets the step's normalised target keys once, in ``after_step``
    (after the optimiser: the loss of a step sees the keys of the steps before it; with a
    meta-batch, the keys of its episodes in order).

    Args:
        momentum: the EMA coefficient ``m`` in ``[0, 1)`` (the schedule's base value).
        momentum_schedule: a registered schedule (``MOMENTUM_SCHEDULES``): ``constant``, ``cosine``.
        projector: a registered projector (``mlp``, ``mlp_bn``, ``mlp_bn_out``, ``linear``,
            ``none``).
        projector_dim, projector_hidden: its output and hidden size (hidden 0: ``out_dim``).
        predictor_hidden: hidden size of the predictor MLP; 0: no predictor.
        symmetric: predict each view from the other (True) or only view 2 from view 1.
        view_batching: ``joint`` or ``separate`` (``VIEW_BATCHING``): both views in one
            forward pass, or one pass per view (the published recipes).
    """

    needs: ClassVar[frozenset[str]] = frozenset({"instances"})
    #: Under torchrun each rank's loss is its own pairs' (against the shared queue for MoCo and
    #: PsCo): DDP's gradient mean makes it the global batch's; the targets stay identical on
    #: every rank (the same EMA of identical online weights) and the queues too (every rank
    #: enqueues every rank's keys, ``store_keys``). PsCo's Sinkhorn plan is per rank.
    across_ranks: ClassVar[bool] = True
    needs_hint: ClassVar[str] = "it contrasts views of one image and needs augmentation episodes"

    def __init__(self, backbone: nn.Module, momentum: float, momentum_schedule: str,
                 projector: str, projector_dim: int, projector_hidden: int,
                 predictor_hidden: int, symmetric: bool, view_batching: str = "joint") -> None:
        super().__init__(backbone)
        if view_batching not in VIEW_BATCHING:
            raise BenchmarkError(f"method {self.name!r}: view_batching must be one of "
                                 f"{', '.join(VIEW_BATCHING)}, got {view_batching!r}")
        self.view_batching = view_batching
        hidden = projector_hidden or backbone.out_dim
        check_positive(self.name, projector_dim=projector_dim, projector_hidden=hidden)
        check_momentum(self.name, momentum, momentum_schedule)
        if predictor_hidden < 0:
            raise BenchmarkError(f"method {self.name!r}: predictor_hidden must be >= 0 (0: no "
                                 f"predictor), got {predictor_hidden}")
        self.projector = build_projector(projector, backbone.out_dim, hidden, projector_dim)
        out_dim = projector_dim if projector != "none" else backbone.out_dim
        self.predictor = Predictor(out_dim, predictor_hidden) if predictor_hidden else nn.Identity()
        self.target_backbone = frozen_copy(backbone)
        self.target_projector = frozen_copy(self.projector)
        self.momentum = momentum
        self.momentum_schedule = momentum_schedule
        self.symmetric = symmetric
        self.key_dim = out_dim
        self._pending_keys: list[torch.Tensor] = []

    def keys_per_step(self, ways: int, queries: int) -> int:
        """Target keys a step of N-way Q-query episodes makes (one per pair and view)."""
        return ways * queries * (2 if self.symmetric else 1)

    @staticmethod
    def views(episode: Episode) -> tuple[torch.Tensor, torch.Tensor]:
        """The two views of every pair: ``(first support view of the image, query view)``.

        Shape:
            Outputs: two ``[N*Q, C, H, W]``.
        """
        return episode.support[episode.query_labels * episode.shots], episode.query

    def embed_and_loss(self, episode: Episode) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The online backbone's features of both views and the (symmetrised) ``pair_loss``;
        the step's target keys are kept for ``after_step``."""
        x1, x2 = self.views(episode)
        pairs = len(x1)
        passes = [torch.cat([x1, x2])] if self.view_batching == "joint" else [x1, x2]
        features, online, target = [], [], []
        for x in passes:  # BatchNorm's statistics are those of each pass's batch
            features.append(self.backbone(x))
            online.append(self.predictor(self.projector(features[-1])))
            with torch.no_grad():
                target.append(F.normalize(self.target_projector(self.target_backbone(x)), dim=1))
        features, online, target = torch.cat(features), torch.cat(online), torch.cat(target)
        losses = [self.pair_loss(online[:pairs], target[pairs:])]
        if self.symmetric:
            losses.append(self.pair_loss(online[pairs:], target[:pairs]))
        out = {key: torch.stack([l[key] for l in losses]).mean() for key in losses[0]}
        self._pending_keys.append(
            torch.cat([target[pairs:], target[:pairs]]) if self.symmetric else target[pairs:])
        return features, out

    def forward_batch(self, episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
        """As ``Method.forward_batch``; ``after_step`` then stores the target keys of every
        episode of the batch, in order."""
        self._pending_keys = []
        return super().forward_batch(episodes)

    def pair_loss(self, online: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss", "acc", ...}`` of online outputs ``[P, D]`` (not normalised) against the
        normalised target outputs ``[P, D]`` of the other view of each pair."""
        raise NotImplementedError

    @classmethod
    def budget_free(cls, params: Mapping[str, Any]) -> bool:
        """Whether the momentum schedule (``params``' or the constructor's default) ignores the
        budget: ``constant`` does, BYOL's ``cosine`` (1 at the last step) does not."""
        default = inspect.signature(cls).parameters["momentum_schedule"].default
        return params.get("momentum_schedule", default) in BUDGET_FREE_MOMENTUM

    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the target (momentum on the schedule); then ``store_keys`` with the
        step's target keys."""
        m = MOMENTUM_SCHEDULES.get(self.momentum_schedule)(self.momentum, step, total_steps)
        update_momentum(self.target_backbone, self.backbone, m)
        update_momentum(self.target_projector, self.projector, m)
        if self._pending_keys:
            keys = self._pending_keys
            self.store_keys(keys[0] if len(keys) == 1 else torch.cat(keys))
        self._pending_keys = []

    def store_keys(self, keys: torch.Tensor) -> None:
        """What becomes of a step's normalised target keys ``[keys_per_step, D]`` (view-2 keys
        first). Default: nothing (BYOL); MoCo and PsCo enqueue them."""
