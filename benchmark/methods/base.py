"""The one method interface: an ``Episode`` in, a loss and metrics out; ``embed`` for evaluation;
``trainable_parameters`` and ``after_step`` for the trainer."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import torch
from torch import nn

from benchmark import distributed
from benchmark.episodes.episode import Episode, Task
from benchmark.errors import BenchmarkError
from benchmark.losses import DISTANCES, squared_euclidean
from benchmark.registry import Registry


class Method(nn.Module):
    """Base class: a subclass is registered with ``register_method`` (which sets ``name``),
    says what it ``needs`` and implements ``episode_loss`` (or ``embed_and_loss``).

    Every subclass declares its hyper-parameters as keyword arguments of ``__init__`` (with
    defaults); ``build_method`` refuses any other name. By default support and query are
    embedded in one backbone call.

    ``forward`` is the one template every method runs: the episode ``check``, the method's loss
    (``embed_and_loss``), the accuracy and the diagnostics (``embedding_std``); a method file
    writes only its loss (and, where it has one, its own adaptation).

    Lifecycle, as the trainer (``benchmark.train.train``) drives it: the optimiser is built over
    ``trainable_parameters()``; every step calls ``forward_batch(episodes)`` (``meta_batch``
    episodes; by default the mean of their ``forward`` outputs), steps the optimiser and the
    learning-rate schedule on its loss, then calls ``after_step``. State that is not trained
    by the optimiser (an EMA target network, a queue of keys) is kept as buffers or as parameters
    with ``requires_grad=False``, so it is in ``state_dict``: checkpoints and exact resume cover
    it with no trainer change.

    Attributes:
        name: registered method name (set by ``register_method``).
        needs: what an episode must offer (``Episode.offers``, words of
            ``benchmark.episodes.episode.OFFERS``) for the method to train on it; empty (the
            default): any episode.
        needs_hint: why other episodes are refused (ends the error message).
        trains: False for a method evaluated as it is built (``pretrained``): the runner
            skips training.
        across_ranks: the method trains across the ranks of a torchrun run as on one process
            with the global batch: each rank draws ``ways / world`` of the spec's images, and
            what must span the ranks does (the SimCLR family gathers its candidates, MoCo and
            PsCo enqueue every rank's keys, ``benchmark.distributed``). Only such methods
            train under torchrun.
        channels_last: whether its training steps run faster with channels-last weights (the
            trainer's ``channels_last`` applies only then): False for MAML, whose
            second-order inner loop it slows (5w1s, meta-batch 32, 2 threads, Intel Xeon:
            vectorised 39.3 tasks/s channels-last, 44.5 contiguous).
        backbone: the feature extractor (``out_dim`` attribute) used by ``embed``.
    """

    name: ClassVar[str] = "method"
    needs: ClassVar[frozenset[str]] = frozenset()
    needs_hint: ClassVar[str] = ""
    trains: ClassVar[bool] = True
    across_ranks: ClassVar[bool] = False
    channels_last: ClassVar[bool] = True

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @classmethod
    def accepted_kinds(cls) -> frozenset[str]:
        """The registered samplers whose episodes offer what this method ``needs``."""
        from benchmark.samplers import SAMPLERS

        return frozenset(n for n in SAMPLERS.names() if cls.needs <= SAMPLERS.get(n).offers)

    def check(self, task: Task) -> None:
        """BenchmarkError unless this method, with its hyper-parameters, can train on episodes
        like ``task`` (an ``Episode``, or a ``TaskShape`` before any is drawn): they offer what
        it ``needs``; under torchrun it trains across ranks (``across_ranks``). Checked before
        training (on the model built on the meta device) and on every episode ``forward``
        takes. A subclass with bounds of its own (a classifier's ways, a queue of whole steps)
        extends it, calling ``super().check(task)`` first.
        """
        if not self.needs <= task.offers:
            accepted = ", ".join(repr(s) for s in sorted(self.accepted_kinds()))
            hint = f"; {self.needs_hint}" if self.needs_hint else ""
            raise BenchmarkError(f"method {self.name!r} cannot train on {task.kind!r} episodes: "
                                 f"it accepts {accepted}{hint}")
        check_across_ranks(type(self))

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

    @classmethod
    def budget_free(cls, params: Mapping[str, Any]) -> bool:
        """Whether this method with ``params`` never reads the step budget (``after_step``'s
        ``total_steps``), so that a run may go on to a larger STEP COUNT as if it had started
        with it (``benchmark.train.budget``). Default: True (the default hook does nothing)."""
        return True

    @property
    def variant(self) -> str:
        """The published variant of the method these hyper-parameters make, where a paper
        publishes numbers for more than one (``first_order``: first-order MAML, Finn et al.'s
        Table 1); "" (the default): the method as published. Every row stores it
        (``ResultRow.variant``) and the report sets a row against its variant's published
        numbers (``benchmark.report.published.FAMILY``)."""
        return ""

    def resolve_auto(self, draw: Callable[[], Sequence[Episode]], precision: str) -> str:
        """Settle the method's ``auto`` settings for this run by timing them on the training
        device (the trainer calls it once, before the first step, under ``precision``):
        ``draw()`` returns one step's episodes there. Returns what was chosen and why, or ""
        when the method has nothing to choose (the default)."""
        return ""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluation features: the backbone's (no projector), unless a method says otherwise.
        Images go in as they are: no input normalisation anywhere (every backbone starts with
        conv-BN), so ``forward`` and ``embed`` see the same inputs.

        Shape:
            x: ``[B, C, H, W]`` float in ``[0, 1]``. Output: ``[B, D]``.
        """
        return self.backbone(x)

    def forward(self, episode: Episode) -> dict[str, torch.Tensor]:
        """Loss and metrics of one episode: the template every method runs (``check``, then
        ``embed_and_loss``, then accuracy and diagnostics).

        Returns:
            ``"loss"`` (differentiable scalar), ``"acc"`` (detached scalar: the loss's own, or
            the arg-max of its ``"logits"`` against the query labels), method-specific metrics,
            and ``"embedding_std"`` (detached: mean over dimensions of the features' standard
            deviation over the episode, which falls to 0 when the representation collapses).
        """
        self.check(episode)
        features, out = self.embed_and_loss(episode)
        if "logits" in out:
            logits = out.pop("logits")
            acc = (logits.argmax(1) == episode.query_labels).float().mean().detach()
            out = {"loss": out.pop("loss"), "acc": acc, **out}
        out["embedding_std"] = features.detach().float().std(0).mean()
        return out

    def forward_batch(self, episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
        """Loss and metrics of a meta-batch (the trainer's ``meta_batch`` episodes of one
        step): by default the mean of each episode's ``forward`` outputs (one episode: its
        outputs as they are). A method may override it to compute them in one call."""
        outs = [self(episode) for episode in episodes]
        if len(outs) == 1:
            return outs[0]
        return {key: torch.stack([o[key] for o in outs]).mean() for key in outs[0]}

    def embed_and_loss(self, episode: Episode) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The features the loss saw (``[B, D]``, for ``embedding_std``) and ``{"loss", "acc"
        or "logits" (query logits ``[N*Q, N]``), ...}``. Default: support and query embedded
        in one backbone call, then ``episode_loss``."""
        n_support = len(episode.support)
        features = self.backbone(torch.cat([episode.support, episode.query]))
        return features, self.episode_loss(features[:n_support], features[n_support:], episode)

    def episode_loss(
        self, support: torch.Tensor, query: torch.Tensor, episode: Episode
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "acc" or "logits", ...}`` from the backbone features of support ``[N*K, D]`` and query ``[N*Q, D]``."""
        raise NotImplementedError


def check_across_ranks(cls: type[Method]) -> None:
    """BenchmarkError when training is distributed (torchrun) and method class ``cls`` does not
    train across ranks (``Method.across_ranks``); part of ``Method.check``, and usable before a
    model is built."""
    if distributed.is_distributed() and not cls.across_ranks:
        raise BenchmarkError(f"method {cls.name!r} does not train across ranks (torchrun): "
                             "only the methods with Method.across_ranks do")


class ParameterError(BenchmarkError):
    """A ``Method.check`` refusal caused by the method's hyper-parameters (a queue that cannot
    hold whole steps): reported at the spec's ``params``."""


def register_method(name: str, description: str | None = None) -> Callable[[type], type]:
    """Class decorator: register a ``Method`` subclass in ``METHODS`` as ``name``, which
    becomes its ``name`` (written once, here)."""

    def decorator(cls: type) -> type:
        cls.name = name
        return METHODS.register(name, description)(cls)

    return decorator


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
