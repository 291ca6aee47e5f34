"""MoCo (He et al. 2020; v2: Chen et al. 2020): InfoNCE against a queue of a momentum
encoder's past keys, so the negatives are not limited to the batch."""

from __future__ import annotations

import torch
from torch import nn

from benchmark import distributed
from benchmark.episodes.episode import Task
from benchmark.losses import queue_infonce
from benchmark.methods.base import ParameterError, check_positive, register_method
from benchmark.methods.momentum_base import MomentumMethod
from benchmark.modules.queue import KeyQueue


@register_method(
    "moco", "MoCo v2: momentum key encoder, InfoNCE against a FIFO queue of past keys, MLP projector"
)
class MoCo(MomentumMethod):
    """The query encoder (backbone, projector) is trained; the key encoder is its EMA. Each
    view's query is contrasted with the key of the other view of its image and with the
    ``queue_size`` keys of the last steps (a ``KeyQueue``, starting as random unit keys); after
    the step, the step's keys are enqueued. With ``symmetric`` both views are queries (2 keys
    per image and step, as SimCLR's 2B views), otherwise only view 1 (MoCo v2). The queue must
    hold a whole number of steps' keys (MoCo's convention: the negatives are exactly the keys
    of the last ``queue_size / keys_per_step`` steps). No shuffling BN: the query and
    key encoders each see the whole (rank's) batch at once, so BN statistics cannot tell a
    key's pair from the others. Under torchrun every rank enqueues every rank's keys.

    Published recipe: ``tasks/reproduce/simclr_moco_byol.yaml`` (v2's MLP head without BN, τ
    0.2, asymmetric, both views augmented, PsCo's Omniglot queue 16,384 and momentum 0.99).
    Differences that remain: no shuffling BN (see above); the Omniglot optimisation is PsCo's.

    Args:
        temperature: τ of the cosine logits (MoCo v2: 0.2).
        queue_size: ``K``, the number of negative keys.
        momentum, momentum_schedule: the key encoder's EMA (MoCo: 0.999 on ImageNet, constant;
            v2 options: ``cosine`` rises to 1).
        projector, projector_dim, projector_hidden: v2's MLP head (``linear``: v1's).
        predictor_hidden: 0 (MoCo has no predictor); > 0 adds one (as MoCo v3).
        symmetric: both views as queries.
        view_batching: ``joint`` (both views in one forward pass) or ``separate`` (one pass
            per view, as MoCo's code runs query and key encoders).
    """


    def __init__(
        self,
        backbone: nn.Module,
        temperature: float = 0.2,
        queue_size: int = 4096,
        momentum: float = 0.99,
        momentum_schedule: str = "constant",
        projector: str = "mlp",
        projector_dim: int = 128,
        projector_hidden: int = 0,
        predictor_hidden: int = 0,
        symmetric: bool = True,
        view_batching: str = "joint",
    ) -> None:
        super().__init__(backbone, momentum, momentum_schedule, projector, projector_dim,
                         projector_hidden, predictor_hidden, symmetric, view_batching)
        check_positive(self.name, temperature=temperature, queue_size=queue_size)
        self.temperature = temperature
        self.queue = KeyQueue(queue_size, self.key_dim)

    def check(self, task: Task) -> None:
        """As ``Method.check``, and the queue holds a whole number of steps' keys."""
        super().check(task)
        ways, queries = task.ways, task.queries
        keys = self.keys_per_step(ways, queries)
        if self.queue.size % keys:
            raise ParameterError(
                f"method {self.name!r}: queue_size {self.queue.size} is not a multiple of the "
                f"{keys} keys a step enqueues ({ways} ways x {queries} queries"
                f"{' x 2 views' if self.symmetric else ''})")

    def pair_loss(self, online: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        loss, acc = queue_infonce(online, target, self.queue.keys, self.temperature)
        return {"loss": loss, "acc": acc}

    def store_keys(self, keys: torch.Tensor) -> None:
        """Enqueue the step's keys of every rank, in rank order (this rank's alone when not
        distributed), so every rank's queue holds the same keys."""
        self.queue.enqueue(distributed.gather_no_grad(keys))
