"""``Episode``: the typed unit that flows from samplers to methods and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Protocol, Sequence, Self, TypeAlias

import torch

#: The kind of an episode: the name of the registered sampler that made it
#: (``benchmark.samplers.SAMPLERS``: ``labels``, ``augment``, ``patches``, ...).
EpisodeKind: TypeAlias = str

#: What episodes may offer a method (``Episode.offers``, a sampler's ``offers``; a method's
#: ``needs`` are words of it): ``"classes"``, N-way tasks whose classes each hold several
#: examples (labelled classes; augmentation episodes too, each image a class of its views, as
#: ProtoNet and UMTRA train on them); ``"instances"``, classes that are each one instance (views
#: of one image or one sequence); ``"frames"``, frames of one sequence in time.
OFFERS: frozenset[str] = frozenset({"classes", "instances", "frames"})


class DeviceRecord:
    """``device`` and ``to`` of the frozen episode records, whose tensors move together."""

    support: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.support.device

    def to(self, device: torch.device | str) -> Self:
        """The same record with every tensor on ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)  # type: ignore[arg-type]
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **moved)  # type: ignore[type-var]


@dataclass(frozen=True)
class Episode(DeviceRecord):
    """An N-way K-shot Q-query task.

    Images are ``float32`` in ``[0, 1]``. Labels are remapped to ``0..N-1``; support and
    query are ordered class-major (``support_labels == arange(N).repeat_interleave(K)``).

    Attributes:
        support: ``[N*K, C, H, W]``.
        support_labels: ``[N*K]`` int64 in ``0..N-1``.
        query: ``[N*Q, C, H, W]``.
        query_labels: ``[N*Q]`` int64 in ``0..N-1``.
        class_ids: ``[N]`` dataset class ids (image ids when each image is its own class;
            for rotation classes, ``class_id * 4 + k`` for rotation ``k * 90°``).
        ways, shots, queries: N, K, Q.
        kind: the registered sampler that made it: ``"labels"``, ``"augment"``, ``"patches"``, ...
        seed: the seed that made it.
        offers: what the episode offers a method (words of ``OFFERS``; its sampler's
            ``offers``): a method trains on it iff its ``needs`` are among them.
    """

    support: torch.Tensor
    support_labels: torch.Tensor
    query: torch.Tensor
    query_labels: torch.Tensor
    class_ids: torch.Tensor
    ways: int
    shots: int
    queries: int
    kind: EpisodeKind
    seed: int
    offers: frozenset[str] = frozenset()


class Task(Protocol):
    """What a method's ``check`` looks at: an ``Episode``, or a ``TaskShape`` before any is drawn."""

    kind: EpisodeKind
    offers: frozenset[str]
    ways: int
    shots: int
    queries: int


@dataclass(frozen=True)
class TaskShape:
    """The shape of a sampler's episodes, without drawing one: for checks before training
    (``Method.check``).

    Attributes:
        kind: the registered sampler; offers: its ``offers``; ways, shots, queries: N, K, Q.
    """

    kind: EpisodeKind
    offers: frozenset[str]
    ways: int
    shots: int
    queries: int


class EpisodeSampler(Protocol):
    """Anything that turns a seed into an Episode deterministically."""

    ways: int
    shots: int
    queries: int
    kind: EpisodeKind
    offers: frozenset[str]

    def sample(self, seed: int) -> Episode:
        """One episode, a pure function of ``seed``."""
        ...

    def sample_batch(self, seeds: Sequence[int]) -> list[Episode]:
        """Several episodes in one vectorised draw; ``sample_batch([s])[0] == sample(s)``."""
        ...
