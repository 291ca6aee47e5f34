"""Temporal episodes (time-contrastive): a class is one sequence, its views are nearby frames.

Each class of the split is one sequence, its images in stored order its frames (the layout of
the sequence datasets, ``benchmark.data.sequences``). An episode picks N sequences; each
class's K support and Q query frames are distinct frames of one window of ``window``
consecutive frames, taken every ``stride`` frames. Frames close in time are the positives.

With ``negatives`` (as in time-contrastive networks, Sermanet et al. 2018), the episode takes
N/2 sequences and two windows of each, every frame of one more than ``margin`` frames from
every frame of the other; the two windows are two classes of the episode (labels ``2i`` and
``2i + 1`` for the ``i``-th sequence, both with class id the sequence's), so every method that
contrasts classes pushes apart the distant frames of one sequence as it does other sequences,
with no change to the ``Episode`` or to any method.

With ``augment``, the augment sampler's view transform (``ViewAugment``, the dataset kind's
preset or ``preset``, ``augment`` knobs over it) is applied to every frame: time and
augmentation combined.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch

from benchmark.data.builder import dataset_kind
from benchmark.data.sequences import frames_of
from benchmark.data.split import Split, unit_float
from benchmark.episodes.batch import EpisodeBatch
from benchmark.errors import BenchmarkError
from benchmark.samplers.base import Sampler, check_seed, check_split, register_sampler
from benchmark.samplers.draws import DISTINCT_UNIFORMS, choose_distinct, uniforms
from benchmark.transforms.presets import build_preset, preset_for_kind
from benchmark.transforms.view_augment import NUM_UNIFORMS, ViewAugment

WHO = "temporal sampler"


def _count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise BenchmarkError(f"{WHO}: {name} must be an integer >= {least}, got {value!r}")
    return value


def window_starts(frames: int, window: int, margin: int | None) -> np.ndarray:
    """Every start of one window (``margin`` None: ``[P, 1]``) or every ordered pair of
    starts of two windows whose frames are all more than ``margin`` frames apart (``[P, 2]``)."""
    starts = np.arange(frames - window + 1)
    if margin is None:
        return starts[:, None]
    a, b = np.meshgrid(starts, starts, indexing="ij")
    apart = np.abs(a - b) >= window + margin  # the gap between the windows exceeds the margin
    return np.stack([a[apart], b[apart]], 1)


@register_sampler("temporal", "N sequences as classes, K+Q frames each from a window of the "
                              "sequence; optional distant-frame negatives and augmentation")
class TemporalSampler(Sampler):
    """Time-contrastive episodes from a split of equal-length sequences.

    Args:
        split: one class per sequence, its frames in time order.
        ways, shots, queries: N classes per episode, K support and Q query frames each.
        device: where the split is kept and episodes are made.
        window: consecutive frames a class's frames are drawn from (default: the whole sequence).
        stride: the step between the frames that may be drawn in a window.
        negatives: two windows of N/2 sequences, more than ``margin`` frames apart, as classes.
        margin: the least gap, in frames, between the two windows of a sequence (default 0:
            disjoint windows); only with ``negatives``.
        augment: False (the frames as they are), True (the dataset kind's preset, or
            ``preset``) or a mapping of knobs over the preset's fields (``ViewAugment``).
        preset: a registered augmentation preset (only with ``augment``).
        augment_support: False keeps the support frames un-augmented (only with ``augment``).
    """

    offers: ClassVar[frozenset[str]] = frozenset({"instances", "frames"})

    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device = "cpu", window: int | None = None, stride: int = 1,
                 negatives: bool = False, margin: int | None = None,
                 augment: bool | Mapping[str, Any] = False, preset: str | None = None,
                 augment_support: bool = True) -> None:
        super().__init__(ways, shots, queries, device)
        check_split(split, ways, shots, queries)
        frames = frames_of(split)  # [S, T, C, H, W]
        count, length = frames.shape[:2]
        where = f"the {length} frames of the sequences of {split.dataset}/{split.name}"
        window = length if window is None else _count("window", window, 1)
        stride = _count("stride", stride, 1)
        if window > length:
            raise BenchmarkError(f"{WHO}: window {window} is longer than {where}")
        for name, value in (("negatives", negatives), ("augment_support", augment_support)):
            if not isinstance(value, bool):
                raise BenchmarkError(f"{WHO}: {name} must be true or false, got {value!r}")
        if not negatives and margin is not None:
            raise BenchmarkError(f"{WHO}: margin applies with negatives: true only")
        if negatives:
            margin = 0 if margin is None else _count("margin", margin, 0)
            if margin >= length:
                raise BenchmarkError(f"{WHO}: margin {margin} is not shorter than {where}")
            if ways % 2:
                raise BenchmarkError(f"{WHO}: with negatives, ways N={ways} must be even "
                                     "(N/2 sequences, two windows each)")
            if 2 * window + margin > length:
                raise BenchmarkError(f"{WHO}: two windows of {window} frames more than {margin} frames "
                                     f"apart need {2 * window + margin} frames, more than {where}")
        slots = (window - 1) // stride + 1
        if shots + queries > slots:
            raise BenchmarkError(f"{WHO}: a window of {window} frames at stride {stride} holds {slots} "
                                 f"frames, fewer than shots+queries K+Q={shots + queries}")
        per_sequence = 2 if negatives else 1
        if ways // per_sequence > count:
            raise BenchmarkError(f"ways N={ways} needs {ways // per_sequence} sequences, more than the "
                                 f"{count} of {split.dataset}/{split.name}")
        self.augment = self._view_augment(split, augment, preset)
        if augment is False and not augment_support:
            raise BenchmarkError(f"{WHO}: augment_support applies with augment only")
        self.split = split
        self.window, self.stride, self.margin = window, stride, margin
        self.negatives, self.augment_support = negatives, augment_support
        self.per_sequence, self.slots, self.count, self.length = per_sequence, slots, count, length
        self.starts = window_starts(length, window, margin if negatives else None)
        self.images = frames.flatten(0, 1).to(self.device)  # sequence s, frame t at row s*T + t

    @staticmethod
    def _view_augment(split: Split, augment: bool | Mapping[str, Any],
                      preset: str | None) -> ViewAugment | None:
        """The view transform ``augment`` asks for (None: frames as they are)."""
        if not isinstance(augment, (bool, Mapping)):
            raise BenchmarkError(f"{WHO}: augment must be true, false or a mapping of knobs, got {augment!r}")
        if augment is False:
            if preset is not None:
                raise BenchmarkError(f"{WHO}: preset applies with augment only")
            return None
        channels, height, width = split.image_shape
        name = preset or preset_for_kind(dataset_kind(split.dataset))
        knobs = dict(augment) if isinstance(augment, Mapping) else {}
        return build_preset(name, (height, width), channels).with_knobs(knobs)

    def _rows(self, seeds: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows [B, N*K + N*Q], sequences [B, N], view uniforms [B, N, K+Q, NUM_UNIFORMS])``:
        the frames of the episodes (support then query, class-major), their classes' sequences."""
        n, k, q, b = self.ways, self.shots, self.queries, len(seeds)
        s, m = n // self.per_sequence, k + q
        per_view = NUM_UNIFORMS if self.augment is not None else 0
        head = DISTINCT_UNIFORMS * s
        u = uniforms(seeds, head + s + n * self.slots + n * m * per_view)
        sequences = choose_distinct(u[:, :head], self.count)  # [B, S]
        pick = np.minimum((u[:, head:head + s] * len(self.starts)).astype(np.int64), len(self.starts) - 1)
        starts = self.starts[pick].reshape(b, n)  # class 2i, 2i+1: the windows of sequence i
        keys = u[:, head + s: head + s + n * self.slots].reshape(b, n, self.slots)
        offsets = np.argsort(keys, axis=2)[:, :, :m] * self.stride  # [B, N, K+Q] distinct frames
        classes = np.repeat(sequences, self.per_sequence, axis=1)  # [B, N]
        rows = classes[:, :, None] * self.length + starts[:, :, None] + offsets
        rows = np.concatenate([rows[:, :, :k].reshape(b, n * k), rows[:, :, k:].reshape(b, n * q)], 1)
        views = u[:, head + s + n * self.slots:].reshape(b, n, m, per_view)
        return rows, classes, views

    def image_rows(self, seeds: Sequence[int]) -> np.ndarray | None:
        """Rows of ``images`` (sequence ``s``, frame ``t`` at ``s * T + t``) of the episodes of
        ``seeds``; None when the frames are augmented."""
        if self.augment is not None:
            return None
        return self._rows([check_seed(s) for s in seeds])[0]

    def _draw(self, seeds: list[int]) -> EpisodeBatch:
        n, k, q, b = self.ways, self.shots, self.queries, len(seeds)
        rows, classes, view_u = self._rows(seeds)
        flat = torch.from_numpy(rows).flatten().to(self.device)
        images = unit_float(self.images.index_select(0, flat))
        if self.augment is not None:
            u = np.concatenate([view_u[:, :, :k].reshape(b, n * k, -1),
                                view_u[:, :, k:].reshape(b, n * q, -1)], 1)
            images = self._augmented(images, torch.from_numpy(u.reshape(len(flat), -1)).to(
                device=self.device, dtype=torch.float32))
        images = images.view(b, n * (k + q), *images.shape[1:])
        return self.episodes(images, torch.from_numpy(classes).to(self.device), seeds)

    def _augmented(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Frames ``[B*(N*K+N*Q), C, H, W]`` (support then query per episode) augmented with
        their uniforms; only the queries when ``augment_support`` is False."""
        assert self.augment is not None
        if self.augment_support:
            return self.augment(images, u)
        per_episode = self.ways * (self.shots + self.queries)
        query = torch.arange(len(images), device=images.device) % per_episode >= self.ways * self.shots
        views = self.augment.identity(images).clone()
        views[query] = self.augment(images[query], u[query])
        return views
