"""``EpisodeBatch``: episodes of one shape stacked into one tensor per field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from benchmark.episodes.episode import Episode, EpisodeKind, DeviceRecord
from benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class EpisodeBatch(DeviceRecord):
    """B episodes of one shape (same N, K, Q, image shape and kind), stacked.

    Attributes:
        support: ``[B, N*K, C, H, W]`` float32 in ``[0, 1]``.
        support_labels: ``[B, N*K]`` int64 in ``0..N-1``.
        query: ``[B, N*Q, C, H, W]``.
        query_labels: ``[B, N*Q]``.
        class_ids: ``[B, N]``.
        ways, shots, queries, kind: shared by every episode.
        seeds: one seed per episode.
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
    seeds: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.seeds)

    def episode(self, index: int) -> Episode:
        """Episode ``index`` of the batch (its tensors are views into the batch)."""
        return Episode(
            support=self.support[index],
            support_labels=self.support_labels[index],
            query=self.query[index],
            query_labels=self.query_labels[index],
            class_ids=self.class_ids[index],
            ways=self.ways,
            shots=self.shots,
            queries=self.queries,
            kind=self.kind,
            seed=self.seeds[index],
        )

    def unbind(self) -> list[Episode]:
        """The episodes of the batch, in order (views into the batch, no copy)."""
        support, query = self.support.unbind(0), self.query.unbind(0)
        support_labels, query_labels = self.support_labels.unbind(0), self.query_labels.unbind(0)
        class_ids = self.class_ids.unbind(0)
        return [
            Episode(support[i], support_labels[i], query[i], query_labels[i], class_ids[i],
                    self.ways, self.shots, self.queries, self.kind, seed)
            for i, seed in enumerate(self.seeds)
        ]


def stack_episodes(episodes: Sequence[Episode]) -> EpisodeBatch:
    """Stack episodes of one shape into an ``EpisodeBatch`` (one copy per field).

    Raises BenchmarkError when the list is empty or the episodes differ in N, K, Q,
    kind, image shape, dtype or device.
    """
    if not episodes:
        raise BenchmarkError("cannot stack an empty list of episodes")
    first = episodes[0]

    def signature(ep: Episode) -> tuple:
        return (ep.ways, ep.shots, ep.queries, ep.kind, tuple(ep.support.shape),
                tuple(ep.query.shape), ep.support.dtype, ep.device)

    expected = signature(first)
    for i, ep in enumerate(episodes):
        if signature(ep) != expected:
            raise BenchmarkError(
                f"cannot stack episodes of different shapes: episode 0 is {expected[:6]}, "
                f"episode {i} is {signature(ep)[:6]}"
            )
    return EpisodeBatch(
        support=torch.stack([ep.support for ep in episodes]),
        support_labels=torch.stack([ep.support_labels for ep in episodes]),
        query=torch.stack([ep.query for ep in episodes]),
        query_labels=torch.stack([ep.query_labels for ep in episodes]),
        class_ids=torch.stack([ep.class_ids for ep in episodes]),
        ways=first.ways,
        shots=first.shots,
        queries=first.queries,
        kind=first.kind,
        seeds=tuple(ep.seed for ep in episodes),
    )
