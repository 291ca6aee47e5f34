"""learn2learn interop: Episode <-> (X, y) tasks, samplers from a MetaDataset, same distribution."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from benchmark.data.split import Split
from benchmark.samplers import LabelSampler
from benchmark.episodes.learn2learn import (
    episode_from_l2l_task,
    episode_to_l2l_task,
    sampler_from_meta_dataset,
    split_from_meta_dataset,
)
from benchmark.errors import BenchmarkError
from benchmark.optional import import_learn2learn

l2l = import_learn2learn()

CLASSES, PER_CLASS = 8, 6


def toy_split() -> Split:
    """Image i is constant with value i (so it identifies itself)."""
    count = CLASSES * PER_CLASS
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 4, 4).clone()
    labels = torch.arange(CLASSES).repeat_interleave(PER_CLASS)
    return Split("toy", "train", images, labels, tuple(str(c) for c in range(CLASSES)))


def meta_dataset(split: Split):
    data = torch.utils.data.TensorDataset(split.images.float() / 255, split.labels)
    return l2l.data.MetaDataset(data)


def ids(x: torch.Tensor) -> np.ndarray:
    return (x[:, 0, 0, 0] * 255).round().long().numpy()


def test_episode_round_trips_through_l2l_task():
    ep = LabelSampler(toy_split(), ways=3, shots=2, queries=3).sample(4)
    data, labels = episode_to_l2l_task(ep)
    assert data.shape == (15, 1, 4, 4) and labels.shape == (15,)
    (xs, ys), (xq, yq) = l2l.data.utils.partition_task(data, labels, shots=2)
    assert torch.equal(xs, ep.support) and torch.equal(xq, ep.query)
    back = episode_from_l2l_task(data, labels, shots=2, seed=4, class_ids=ep.class_ids)
    for field in ("support", "support_labels", "query", "query_labels", "class_ids"):
        assert torch.equal(getattr(back, field), getattr(ep, field))
    assert (back.ways, back.shots, back.queries, back.seed) == (3, 2, 3, 4)
    with pytest.raises(BenchmarkError, match="examples per class"):
        episode_from_l2l_task(data[:-1], labels[:-1], shots=2, seed=0)


def test_sampler_from_meta_dataset_holds_the_same_images():
    split = toy_split()
    rebuilt = split_from_meta_dataset(meta_dataset(split))
    assert torch.equal(rebuilt.images, split.images) and torch.equal(rebuilt.labels, split.labels)
    ep = sampler_from_meta_dataset(meta_dataset(split), 4, 1, 2).sample(0)
    assert ep.support.shape == (4, 1, 4, 4)


def test_same_distribution_as_l2l_task_dataset():
    """Class and image frequencies over many episodes: chi-square, ours vs learn2learn's
    TaskDataset (its current name, Taskset) with NWays, KShots, LoadData, RemapLabels."""
    split, episodes, ways, shots, queries = toy_split(), 2000, 3, 1, 2
    ours = LabelSampler(split, ways, shots, queries).sample_batch(range(episodes))
    our_images = np.concatenate([ids(torch.cat([e.support, e.query])) for e in ours])
    dataset = meta_dataset(split)
    tasks = l2l.data.Taskset(dataset, task_transforms=[
        l2l.data.transforms.NWays(dataset, ways),
        l2l.data.transforms.KShots(dataset, shots + queries),
        l2l.data.transforms.LoadData(dataset),
        l2l.data.transforms.RemapLabels(dataset),
    ], num_tasks=-1)
    random.seed(0)
    their_images = np.concatenate([ids(tasks.sample()[0]) for _ in range(episodes)])
    labels = split.labels.numpy()
    for name, bins, ours_, theirs in [
        ("class", CLASSES, labels[our_images], labels[their_images]),
        ("image", CLASSES * PER_CLASS, our_images, their_images),
    ]:
        table = np.stack([np.bincount(ours_, minlength=bins), np.bincount(theirs, minlength=bins)])
        assert table.min() > 0, name
        p_value = chi2_contingency(table)[1]
        assert p_value > 1e-3, f"{name} frequencies differ from learn2learn's (p={p_value:.2g})"
    # and both are uniform: each class in ways/CLASSES of the episodes
    class_counts = np.bincount(labels[our_images], minlength=CLASSES) / (shots + queries)
    assert np.allclose(class_counts / episodes, ways / CLASSES, atol=0.03)
