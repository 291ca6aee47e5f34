"""``EpisodeBatch``: episodes of one shape stacked into one tensor per field."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark.episodes.episode import Episode, EpisodeKind, DeviceRecord


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
        offers: what every episode offers a method (``Episode.offers``).
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
    offers: frozenset[str] = frozenset()

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
            offers=self.offers,
        )

    def unbind(self) -> list[Episode]:
        """The episodes of the batch, in order (views into the batch, no copy)."""
        support, query = self.support.unbind(0), self.query.unbind(0)
        support_labels, query_labels = self.support_labels.unbind(0), self.query_labels.unbind(0)
        class_ids = self.class_ids.unbind(0)
        return [
            Episode(support[i], support_labels[i], query[i], query_labels[i], class_ids[i],
                    self.ways, self.shots, self.queries, self.kind, seed, self.offers)
            for i, seed in enumerate(self.seeds)
        ]
