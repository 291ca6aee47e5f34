"""The one method interface: an ``Episode`` in, a loss and metrics out; ``embed`` for evaluation;
``trainable_parameters`` and ``after_step`` for the trainer."""

from __future__ import annotations

from typing import ClassVar, Iterator

import torch
from torch import nn

from benchmark import distributed
from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.losses import DISTANCES, squared_euclidean
from benchmark.registry import Registry


class Method(nn.Module):
    """Base class: subclasses set ``name``, ``kinds`` and implement ``episode_loss``.

    Every subclass declares its hyper-parameters as keyword arguments of ``__init__`` (with
    defaults); ``build_method`` refuses any other name. Support and query are embedded in one
    backbone call.

    Lifecycle, as the trainer (``benchmark.train.train``) drives it: the optimiser is built over
    ``trainable_parameters()``; every step calls ``forward(episode)``, steps the optimiser and
    the learning-rate schedule on its loss, then calls ``after_step``. State that is not trained
    by the optimiser (an EMA target network, a queue of keys) is kept as buffers or as parameters
    with ``requires_grad=False``, so it is in ``state_dict``: checkpoints and exact resume cover
    it with no trainer change.

    Attributes:
        name: registered method name.
        kinds: episode kinds (``Episode.kind``, a registered sampler) the method can train on;
            ``None`` (the default): every registered sampler.
        kind_hint: why other kinds are refused (ends the error message).
        trains: False for a method evaluated as it is built (``pretrained``): the runner
            skips training.
        across_ranks: the method trains across the ranks of a torchrun run as on one process
            with the global batch: each rank draws ``ways / world`` of the spec's images, and
            what must span the ranks does (the SimCLR family gathers its candidates, MoCo and
            PsCo enqueue every rank's keys, ``benchmark.distributed``). Only such methods
            train under torchrun.
        backbone: the feature extractor (``out_dim`` attribute) used by ``embed``.
    """

    name: ClassVar[str] = "method"
    kinds: ClassVar[frozenset[str] | None] = None
    kind_hint: ClassVar[str] = ""
    trains: ClassVar[bool] = True
    across_ranks: ClassVar[bool] = False

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @classmethod
    def accepted_kinds(cls) -> frozenset[str]:
        """The episode kinds this method trains on: ``kinds``, or every registered sampler."""
        if cls.kinds is not None:
            return cls.kinds
        from benchmark.samplers import SAMPLERS

        return frozenset(SAMPLERS.names())

    @classmethod
    def check_kind(cls, kind: str) -> None:
        """BenchmarkError unless episodes of ``kind`` can train this method."""
        kinds = cls.accepted_kinds()
        if kind not in kinds:
            accepted = ", ".join(repr(s) for s in sorted(kinds))
            hint = f"; {cls.kind_hint}" if cls.kind_hint else ""
            raise BenchmarkError(
                f"method {cls.name!r} cannot train on {kind!r} episodes: it accepts {accepted}{hint}"
            )

    @classmethod
    def check_task(cls, kind: str, ways: int, shots: int, queries: int) -> None:
        """BenchmarkError unless N-way K-shot Q-query episodes of ``kind`` can train this method."""
        cls.check_kind(kind)

    @classmethod
    def check_ranks(cls) -> None:
        """BenchmarkError when training is distributed (torchrun) and this method does not
        train across ranks (``across_ranks``)."""
        if distributed.is_distributed() and not cls.across_ranks:
            raise BenchmarkError(f"method {cls.name!r} does not train across ranks (torchrun): "
                                 "only the methods with Method.across_ranks do (simclr, "
                                 "protoclr, moco, byol, psco)")

    def check_episode_size(self, ways: int, shots: int, queries: int) -> None:
        """BenchmarkError unless this method, with its hyper-parameters, can train on N-way
        K-shot Q-query episodes (e.g. a key queue that must hold a whole number of batches).
        Checked before training, on the model built on the meta device. Default: nothing.
        """

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters the optimiser owns and updates: by default every parameter with
        ``requires_grad``. Parameters left out are never touched by the optimiser (nor by its
        weight decay); a method updates them itself, e.g. in ``after_step``. Give them
        ``requires_grad=False`` unless gradients through them are wanted: the optimiser clears
        only the gradients of the parameters it owns.
        """
        return (p for p in self.parameters() if p.requires_grad)

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook run by the trainer once per training step, after the optimiser and the
        learning-rate schedule have stepped, with ``step`` the number of completed steps
        (``1 .. total_steps``, where ``total_steps`` is the run's budget). It runs under
        ``torch.no_grad()`` in train mode, before that step's validation and checkpoint (so a
        checkpoint of step ``s`` holds the state after ``after_step(s, ...)``); a resumed run
        continues with ``step = s + 1``. A step whose loss is not finite stops training before
        the optimiser, and the hook is not called for it (with AMP, a step whose gradients
        overflow is skipped by the gradient scaler and the hook still runs). Default: nothing.
        """

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluation features: the backbone's (no projector), unless a method says otherwise.
        Images go in as they are: no input normalisation anywhere (every backbone starts with
        conv-BN), so ``forward`` and ``embed`` see the same inputs.

        Shape:
            x: ``[B, C, H, W]`` float in ``[0, 1]``. Output: ``[B, D]``.
        """
        return self.backbone(x)

    def forward(self, episode: Episode) -> dict[str, torch.Tensor]:
        """Loss and metrics of one episode.

        Returns:
            ``"loss"`` (differentiable scalar), ``"acc"`` (detached scalar), ``"embedding_std"``
            (detached: mean over dimensions of the features' standard deviation over the episode,
            which falls to 0 when the representation collapses) and method-specific metrics.
        """
        self.check_task(episode.kind, episode.ways, episode.shots, episode.queries)
        n_support = len(episode.support)
        features = self.backbone(torch.cat([episode.support, episode.query]))
        out = self.episode_loss(features[:n_support], features[n_support:], episode)
        out["embedding_std"] = features.detach().float().std(0).mean()
        return out

    def episode_loss(
        self, support: torch.Tensor, query: torch.Tensor, episode: Episode
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "acc", ...}`` from the backbone features of support ``[N*K, D]`` and query ``[N*Q, D]``."""
        raise NotImplementedError


class DistanceMethod(Method):
    """A method whose logits are ``-distance / temperature`` between embeddings.

    Args:
        distance: a registered distance (``benchmark.losses.DISTANCES``): ``"euclidean"``
            (squared) or ``"cosine"`` (negative cosine similarity).
        temperature: logit divisor (use ≈ 0.1 with cosine).
    """

    def __init__(self, backbone: nn.Module, distance: str = "euclidean", temperature: float = 1.0) -> None:
        super().__init__(backbone)
        DISTANCES.get(distance)
        check_positive(self.name, temperature=temperature)
        self.distance = distance
        self.temperature = temperature


def nearest_support_accuracy(
    support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor
) -> torch.Tensor:
    """Fraction of queries whose nearest support embedding (squared Euclidean) shares their label.

    With one support view per class this is positive-identification accuracy.

    Shape:
        support: ``[S, D]``, support_labels: ``[S]``, query: ``[Q, D]``, query_labels: ``[Q]``.
        Output: detached scalar.
    """
    with torch.no_grad():
        nearest = squared_euclidean(query, support).argmin(1)
        return (support_labels[nearest] == query_labels).float().mean()


def check_positive(method: str, **values: float) -> None:
    """BenchmarkError naming the first parameter that is not a positive number."""
    for key, value in values.items():
        if not value > 0:
            raise BenchmarkError(f"method {method!r}: {key} must be > 0, got {value}")


#: Registered ``Method`` subclasses; importing ``benchmark.methods`` fills it.
METHODS: Registry[type[Method]] = Registry("method")
