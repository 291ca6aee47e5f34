"""Labelled episodes: N classes without replacement, K+Q distinct images per class.

The split lives on the sampler's device as one ``uint8`` tensor, with a per-class index
table ``[classes, max images per class]`` on the CPU. A batch of B episodes is: one row of
counter-based uniforms per seed, ``choose_distinct`` for the classes, one argsort of a key
per image (small classes) or ``choose_distinct`` again (large classes) for the images of
each class, one table lookup (all on small CPU arrays), then one gather of the images and
one conversion to float on the device.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from benchmark.data.split import Split, unit_float
from benchmark.episodes.batch import EpisodeBatch
from benchmark.errors import BenchmarkError
from benchmark.samplers.base import Sampler, check_seed, check_split, register_sampler
from benchmark.samplers.draws import DISTINCT_UNIFORMS, choose_distinct, uniforms

ROTATIONS = 4  # rotations by 0°, 90°, 180°, 270°: class c becomes classes 4c..4c+3
#: classes of up to this many images pick their K+Q images by sorting one key per image;
#: larger classes use Floyd's algorithm, whose cost grows with K+Q, not with the class size
SORT_WIDTH = 64


def class_index_table(labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image indices grouped by class.

    Args:
        labels: ``[N]`` int64 class ids in ``0..num_classes-1``.

    Returns:
        ``(table, counts)``: ``table [num_classes, max_count]`` int64 holds the indices of
        the images of class ``c`` in ``table[c, :counts[c]]`` (the rest is 0);
        ``counts [num_classes]``.
    """
    counts = torch.bincount(labels, minlength=num_classes)
    width = int(counts.max()) if counts.numel() else 0
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(labels)) - starts[labels[order]]
    table = torch.zeros(num_classes, width, dtype=torch.int64)
    table[labels[order], slot] = order
    return table, counts


def _describe_small_classes(split: Split, small: torch.Tensor, counts: torch.Tensor) -> str:
    shown = [f"{split.class_names[c]} ({int(counts[c])} images)" for c in small[:5].tolist()]
    more = f" and {len(small) - 5} more" if len(small) > 5 else ""
    return ", ".join(shown) + more


@register_sampler("labels", "N labelled classes x (K+Q) distinct images; optional rotations as classes")
class LabelSampler(Sampler):
    """N-way K-shot Q-query episodes from the labelled classes of a split.

    Args:
        split: the images ``[N, C, H, W]`` uint8 and their labels.
        ways, shots, queries: N, K, Q.
        device: where the split is kept and episodes are made.
        rotations: if True, each class ``c`` rotated by ``k * 90°`` is the class
            ``c * 4 + k`` (the Omniglot convention); classes are then the 4x set.
    """

    offers = frozenset({"classes"})


    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device = "cpu", rotations: bool = False) -> None:
        super().__init__(ways, shots, queries, device)
        check_split(split, ways, shots, queries)
        if not isinstance(rotations, bool):
            raise BenchmarkError(f"labels sampler: rotations must be true or false, got {rotations!r}")
        _, height, width = split.image_shape
        if rotations and height != width:
            raise BenchmarkError(
                f"labels sampler: rotations need square images, {split.dataset}/{split.name} "
                f"has {height}x{width}"
            )
        factor = ROTATIONS if rotations else 1
        num_classes = split.num_classes * factor
        if ways > num_classes:
            raise BenchmarkError(
                f"ways N={ways} exceeds the {num_classes} classes of {split.dataset}/{split.name}"
                + (" (with rotations)" if rotations else "")
            )
        table, counts = class_index_table(split.labels.to(torch.int64), split.num_classes)
        need = shots + queries
        small = torch.nonzero(counts < need).flatten()
        if len(small):
            raise BenchmarkError(
                f"shots+queries K+Q={need} exceeds the images of {len(small)} class(es) of "
                f"{split.dataset}/{split.name}: {_describe_small_classes(split, small, counts)}"
            )
        images = split.images
        if rotations:
            images = torch.stack([torch.rot90(images, k, dims=(-2, -1)) for k in range(ROTATIONS)], 1)
            images = images.flatten(0, 1)  # image i rotated by k*90° is at i*4+k
            turns = torch.arange(ROTATIONS).repeat(split.num_classes)
            table = table.repeat_interleave(ROTATIONS, 0) * ROTATIONS + turns[:, None]
            counts = counts.repeat_interleave(ROTATIONS)
        self.split = split
        self.rotations = rotations
        self.num_classes = num_classes
        self.images = images.to(self.device)
        self.table = table.numpy()
        self.counts = counts.numpy()
        width = table.shape[1]
        self.sort_images = width <= SORT_WIDTH
        # columns of a class-major [N*(K+Q)] row in episode order: the supports, then the queries
        first = np.arange(ways)[:, None] * (shots + queries)
        self.layout = np.concatenate([(first + np.arange(shots)).ravel(),
                                      (first + shots + np.arange(queries)).ravel()])
        # when sorting, the keys of the padding slots of smaller classes go above every uniform
        padding = (torch.arange(width)[None, :] >= counts[:, None]).to(torch.float64) * 2.0
        self.padding = padding.numpy() if self.sort_images and bool(padding.any()) else None

    def _indices(self, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Which rows of ``self.images`` the episodes of ``seeds`` hold, without gathering them.

        Returns:
            ``(index, classes)``: ``index [B, N*K + N*Q]`` int64, support then query, each
            class-major (the order of ``Episode.support`` and ``Episode.query``);
            ``classes [B, N]`` the class ids.
        """
        n, k, q = self.ways, self.shots, self.queries
        b, m = len(seeds), k + q
        per_class = self.table.shape[1] if self.sort_images else DISTINCT_UNIFORMS * m
        head = DISTINCT_UNIFORMS * n
        keys = uniforms(seeds, head + n * per_class)
        classes = choose_distinct(keys[:, :head], self.num_classes)  # [B, N]
        flat = classes.reshape(-1)
        image_keys = keys[:, head:].reshape(b * n, per_class)
        if not self.sort_images:
            slots = choose_distinct(image_keys, self.counts[flat])
        elif self.padding is None:
            slots = np.argsort(image_keys, axis=1)[:, :m]
        else:
            slots = np.argsort(image_keys + self.padding[flat], axis=1)[:, :m]
        index = self.table[flat[:, None], slots].reshape(b, n * m)  # class-major, K+Q per class
        return index[:, self.layout], classes

    def image_rows(self, seeds: Sequence[int]) -> np.ndarray:
        """Rows of ``self.images`` (the rotated copies included) of the episodes of ``seeds``."""
        return self._indices([check_seed(s) for s in seeds])[0]

    def _draw(self, seeds: list[int]) -> EpisodeBatch:
        n, k, q = self.ways, self.shots, self.queries
        b = len(seeds)
        index, classes = self._indices(seeds)
        images = self.images.index_select(0, torch.from_numpy(index).flatten().to(self.device))
        images = unit_float(images.view(b, n * (k + q), *self.images.shape[1:]))
        return self.episodes(images, torch.from_numpy(classes).to(self.device), seeds)
