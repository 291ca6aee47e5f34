"""The base every episode sampler shares: the ``SAMPLERS`` registry, N/K/Q and seed checks,
``Sampler`` and ``build_sampler``. Random draws are ``benchmark.samplers.draws``."""

from __future__ import annotations

import inspect
import operator
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch

from benchmark.spec import limits
from benchmark.data.split import Split
from benchmark.device import resolve_device
from benchmark.episodes.batch import EpisodeBatch
from benchmark.episodes.episode import OFFERS, Episode, EpisodeKind
from benchmark.errors import BenchmarkError, refuse_unknown
from benchmark.registry import Registry

#: Episode samplers by name: ``labels``, ``augment``, ``patches``. Each entry is a class
#: called as ``cls(split, ways, shots, queries, device, **options)``.
SAMPLERS: Registry[type] = Registry("sampler")

def check_counts(ways: int, shots: int, queries: int) -> None:
    """Refuse N, K or Q that are not integers in ``1..limits.MAX_*``."""
    for name, value, limit in (("ways (N)", ways, limits.MAX_WAYS),
                               ("shots (K)", shots, limits.MAX_SHOTS),
                               ("queries (Q)", queries, limits.MAX_QUERIES)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchmarkError(f"{name} must be an integer >= 1, got {value!r}")
        limits.check_at_most(name, value, limit)


def check_split(split: Split, ways: int, shots: int, queries: int) -> None:
    """Refuse an empty split, and episodes of its images too large for memory."""
    if len(split) == 0 or split.num_classes == 0:
        raise BenchmarkError(f"split {split.dataset}/{split.name} is empty")
    limits.check_episode_bytes(ways, shots, queries, split.image_shape)


def check_seed(seed: Any) -> int:
    """The seed as an ``int`` in ``0..2**63-1``; a BenchmarkError for anything else."""
    if isinstance(seed, bool):
        raise BenchmarkError(f"episode seed must be an integer, got {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError:
        raise BenchmarkError(f"episode seed must be an integer, got {seed!r}") from None
    if not 0 <= value <= limits.MAX_SEED:
        raise BenchmarkError(f"episode seed must be in 0..2**63-1, got {value}")
    return value


def register_sampler(name: str, description: str | None = None) -> Callable[[type], type]:
    """Class decorator: register a ``Sampler`` subclass in ``SAMPLERS`` as ``name``, which
    becomes its ``kind`` (so a subclass registered under a new name makes episodes of its own
    kind, never its parent's). Its ``offers`` must be words of ``OFFERS``."""

    def decorator(cls: type) -> type:
        unknown = sorted(set(cls.offers) - OFFERS)
        if unknown:
            raise BenchmarkError(f"sampler {name!r} offers {', '.join(map(repr, unknown))}: "
                                 f"not among {', '.join(sorted(OFFERS))}")
        cls.kind = name
        return SAMPLERS.register(name, description)(cls)

    return decorator


class Sampler(ABC):
    """Base of the episode samplers: validates N/K/Q and seeds; subclasses implement ``_draw``
    and set ``images``.

    ``sample(s) == sample_batch([s])[0] == sample_stacked([s]).episode(0)``.

    Attributes:
        kind: the name the class is registered under (``register_sampler`` sets it); the
            ``kind`` of every episode it makes.
        offers: what its episodes offer a method (words of ``OFFERS``: ``classes``,
            ``instances``, ``frames``), carried by each as ``Episode.offers``; methods whose
            ``needs`` are among them train on them. Default: nothing (methods that need
            nothing).
        images: the stored ``uint8`` images ``[M, C, H, W]`` (on ``device``) episodes are made from.
    """

    kind: ClassVar[EpisodeKind]
    offers: ClassVar[frozenset[str]] = frozenset()
    images: torch.Tensor

    def __init__(self, ways: int, shots: int, queries: int, device: str | torch.device) -> None:
        check_counts(ways, shots, queries)
        self.ways, self.shots, self.queries = ways, shots, queries
        self.device = resolve_device(device)
        self._label_rows: dict[int, torch.Tensor] = {}

    def sample(self, seed: int) -> Episode:
        """One episode, a pure function of ``seed``."""
        return self.sample_stacked([seed]).episode(0)

    def sample_batch(self, seeds: Sequence[int]) -> list[Episode]:
        """One episode per seed, drawn in one vectorised pass."""
        if len(seeds) == 0:
            return []
        return self.sample_stacked(seeds).unbind()

    def sample_stacked(self, seeds: Sequence[int]) -> EpisodeBatch:
        """One episode per seed, stacked: tensors ``[len(seeds), ...]``."""
        checked = [check_seed(s) for s in seeds]
        if not checked:
            raise BenchmarkError("sample_stacked needs at least one seed")
        return replace(self._draw(checked), offers=self.offers)

    @abstractmethod
    def _draw(self, seeds: list[int]) -> EpisodeBatch:
        """The batch for already-checked seeds."""

    def image_rows(self, seeds: Sequence[int]) -> np.ndarray | None:
        """Which rows of ``images`` the episodes of ``seeds`` hold, without drawing them.

        Returns:
            ``[len(seeds), N*K + N*Q]`` int64, support then query in episode order (episode
            ``i``'s support is ``unit_float(images[rows[i, :N*K]])``), or None when examples are
            not stored images as they are (augmented views, patches): the default.
        """
        return None

    def episodes(self, images: torch.Tensor, class_ids: torch.Tensor,
                 seeds: Sequence[int]) -> EpisodeBatch:
        """The batch of episodes of ``images`` ``[B, N*(K+Q), C, H, W]``, each class's K
        support images first (class-major), then its Q queries; ``class_ids`` ``[B, N]``."""
        n, k, q, b = self.ways, self.shots, self.queries, len(seeds)
        return EpisodeBatch(
            support=images[:, : n * k],
            support_labels=self.labels(b, k),
            query=images[:, n * k:],
            query_labels=self.labels(b, q),
            class_ids=class_ids,
            ways=n,
            shots=k,
            queries=q,
            kind=self.kind,
            seeds=tuple(seeds),
        )

    def labels(self, count: int, per_class: int) -> torch.Tensor:
        """``[count, N*per_class]`` labels ``0..N-1`` repeated class-major, on the device."""
        if per_class not in self._label_rows:
            self._label_rows[per_class] = torch.arange(self.ways, device=self.device).repeat_interleave(per_class)
        return self._label_rows[per_class].expand(count, -1).clone()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kind={self.kind!r}, ways={self.ways}, "
                f"shots={self.shots}, queries={self.queries}, device={str(self.device)!r})")


def supervision_of(sampler: str) -> str:
    """How a method trained on ``sampler``'s episodes is supervised: ``labels`` when they are
    labelled classes (it offers ``classes`` and not ``instances``: an augmentation episode's
    classes are images), else ``none``. Stored with every result row (``ResultRow.supervision``)."""
    offers = SAMPLERS.get(sampler).offers
    return "labels" if "classes" in offers and "instances" not in offers else "none"


def build_sampler(
    kind: str,
    split: Split,
    ways: int,
    shots: int,
    queries: int,
    device: str | torch.device = "cpu",
    **options: Any,
) -> Sampler:
    """The registered episode sampler ``kind`` over ``split``.

    Options are those of the sampler's class (``labels``: ``rotations``; ``augment``:
    ``augment``; ``patches``: ``patch_size``, ``jitter``, ``size``). Every bad input
    (unknown kind or option, impossible N/K/Q, empty split) raises BenchmarkError here.
    """
    cls = SAMPLERS.get(kind)
    accepted = [p for p in inspect.signature(cls).parameters
                if p not in ("split", "ways", "shots", "queries", "device")]
    refuse_unknown(f"{kind} sampler", "option", options, accepted)
    return cls(split=split, ways=ways, shots=shots, queries=queries, device=device, **options)
