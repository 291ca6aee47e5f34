"""learn2learn interoperability: samplers from a ``MetaDataset``, Episodes as ``(X, y)`` tasks.

learn2learn is imported lazily (only when these functions run,
``benchmark.optional.import_learn2learn``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.data.images import to_uint8
from benchmark.data.split import Split
from benchmark.episodes.episode import Episode
from benchmark.samplers.labels import LabelSampler
from benchmark.errors import BenchmarkError
from benchmark.optional import import_learn2learn


def split_from_meta_dataset(dataset: Any, name: str = "learn2learn") -> Split:
    """A ``Split`` holding every item of a learn2learn ``MetaDataset``.

    Class ids are the MetaDataset's labels in sorted order (``class_names`` are their
    ``str``); images are loaded once through ``dataset[i]`` and stored as uint8.
    """
    count = len(dataset)
    if count == 0:
        raise BenchmarkError(f"learn2learn dataset {name!r} is empty")
    original = sorted(dataset.labels_to_indices)
    class_of = {label: i for i, label in enumerate(original)}
    images = torch.from_numpy(np.stack([to_uint8(dataset[i][0]) for i in range(count)]))
    labels = torch.tensor([class_of[dataset.indices_to_labels[i]] for i in range(count)])
    return Split(dataset=name, name="all", images=images, labels=labels,
                 class_names=tuple(str(label) for label in original))


def sampler_from_meta_dataset(dataset: Any, ways: int, shots: int, queries: int,
                              device: str | torch.device = "cpu", **options: Any) -> LabelSampler:
    """A ``labels`` sampler over a learn2learn ``MetaDataset`` (options as ``LabelSampler``)."""
    return LabelSampler(split_from_meta_dataset(dataset), ways, shots, queries, device, **options)


def episode_to_l2l_task(episode: Episode) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(X, y)`` task learn2learn code expects.

    Returns:
        ``X [N*(K+Q), C, H, W]`` (support then query) and ``y [N*(K+Q)]``; learn2learn's
        ``partition_task(X, y, shots=K)`` gives back this episode's support and query.
    """
    return (torch.cat([episode.support, episode.query]),
            torch.cat([episode.support_labels, episode.query_labels]))


def episode_from_l2l_task(data: torch.Tensor, labels: torch.Tensor, shots: int, *, seed: int,
                          class_ids: torch.Tensor | None = None) -> Episode:
    """An ``Episode`` from a learn2learn ``(X, y)`` task, split by ``partition_task``.

    Args:
        data: ``[N*(K+Q), C, H, W]`` float in [0, 1].
        labels: ``[N*(K+Q)]``, N distinct values with K+Q examples each.
        shots: K.
        seed: recorded as the episode's seed (learn2learn tasks carry none).
        class_ids: ``[N]`` dataset class ids of the sorted labels (default: the labels).
    """
    partition_task = import_learn2learn().data.utils.partition_task
    values, counts = labels.unique(return_counts=True)
    ways = len(values)
    if ways == 0 or not bool((counts == counts[0]).all()) or int(counts[0]) <= shots:
        raise BenchmarkError(
            f"learn2learn task must have the same number (> shots={shots}) of examples per class, "
            f"got counts {counts.tolist()}"
        )
    (support, support_y), (query, query_y) = partition_task(data, labels, shots=shots)
    remap = torch.searchsorted(values, torch.cat([support_y, query_y]))
    return Episode(
        support=support,
        support_labels=remap[: len(support_y)],
        query=query,
        query_labels=remap[len(support_y):],
        class_ids=values.clone() if class_ids is None else class_ids,
        ways=ways,
        shots=shots,
        queries=int(counts[0]) - shots,
        kind="labels",
        seed=seed,
        offers=frozenset({"classes"}),
    )
