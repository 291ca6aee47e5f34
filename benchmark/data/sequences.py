"""Registered sequence datasets: moving drawings made here from the suite's own image datasets.

A sequence dataset is a ``SequenceDataset``: each of its splits is made by
``benchmark.data.motion.moving_sequences`` from a split of its ``source`` dataset, with its
``motion``. Its splits have a frame axis: class ``s`` is one sequence, its ``motion.frames``
images in time order (``frames_of``). Where the source ships an embedded copy (Omniglot), the
sequences are made from it on first use and need no ``prepare``; otherwise ``datasets prepare``
reads the source's official layout (``--source``, or its download) and stores the sequences.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from benchmark.data.builder import DATASETS, DatasetBuilder, builder, register
from benchmark.data.motion import Motion, moving_sequences, sequence_count
from benchmark.data.split import Split, unit_float
from benchmark.errors import BenchmarkError


class SequenceDataset(DatasetBuilder):
    """Base of the sequence datasets: subclasses name the ``source`` dataset, which of its
    splits each split is made from (``source_splits``) and the ``motion``."""

    source: ClassVar[str]
    source_splits: ClassVar[dict[str, str]]
    motion: ClassVar[Motion]

    @property
    def frames(self) -> int:
        """Frames per sequence."""
        return self.motion.frames

    def _source(self) -> DatasetBuilder:
        return builder(self.source)

    def _make(self, split: str, still: Split) -> Split:
        made = moving_sequences(still, self.motion, self.name)
        return Split(self.name, split, made.images, made.labels, made.class_names)

    def download(self, workdir: Path) -> Path:
        """The source dataset's official files."""
        return self._source().download(workdir)

    def read(self, source: Path) -> dict[str, Split]:
        """The source dataset read from ``source`` in its official layout, made into sequences."""
        stills = self._source().read(source)
        return {split: self._make(split, stills[of]) for split, of in self.source_splits.items()}

    def embedded_copy(self) -> Path | None:
        """The source's embedded copy, if it ships one: the sequences are made from it."""
        return self._source().embedded_copy()

    def read_embedded(self, split: str) -> Split:
        if split not in self.source_splits:
            raise BenchmarkError(f"unknown {self.name} split {split!r} "
                                 f"(known: {', '.join(self.source_splits)})")
        return self._make(split, self._source().read_embedded(self.source_splits[split]))

    def embedded_size(self, split: str) -> tuple[int, int]:
        """``(sequences, frames)`` of one split made from the embedded copy, counted from the
        source split's images per class and the motion (``motion.sequence_count``): no frame
        is drawn."""
        if split not in self.source_splits:
            raise BenchmarkError(f"unknown {self.name} split {split!r} "
                                 f"(known: {', '.join(self.source_splits)})")
        still = self._source().read_embedded(self.source_splits[split])
        count = sequence_count(still.class_counts().numpy(), self.motion)
        return count, count * self.motion.frames


def sequence_dataset(name: str) -> SequenceDataset | None:
    """The builder of the registered sequence dataset ``name``; None for any other name."""
    if name in DATASETS and issubclass(DATASETS.get(name), SequenceDataset):
        return builder(name)  # type: ignore[return-value]
    return None


def frames_of(split: Split) -> torch.Tensor:
    """The frames of a split whose classes are sequences of equal length, in stored order.

    Shape:
        Output: ``[S, T, C, H, W]`` uint8 (a view when every sequence's frames are contiguous).

    Raises:
        BenchmarkError: an empty split, or sequences of unequal lengths.
    """
    counts = split.class_counts()
    if len(split) == 0 or int(counts.min()) == 0:
        raise BenchmarkError(f"split {split.dataset}/{split.name} has an empty sequence")
    if int(counts.min()) != int(counts.max()):
        raise BenchmarkError(f"the classes of {split.dataset}/{split.name} are not sequences of one "
                             f"length ({int(counts.min())}-{int(counts.max())} images)")
    order = torch.argsort(split.labels, stable=True)
    return split.images[order].view(split.num_classes, int(counts[0]), *split.image_shape)


@register
class MovingOmniglot(SequenceDataset):
    name = "moving_omniglot"
    description = ("Omniglot characters moving on a 28x28 canvas (one drawing per character, 20 "
                   "frames: bouncing, rotating, scaling); made here from the embedded Omniglot")
    splits = ("background", "evaluation")
    partition = splits
    train_split = "background"
    test_split = "evaluation"
    image_shape = (1, 28, 28)
    kind = "glyphs"
    source_hint = "the Omniglot folder (images_background.zip, images_evaluation.zip); default: embedded"
    source = "omniglot"
    source_splits = {"background": "background", "evaluation": "evaluation"}
    motion = Motion()


@register
class MovingOmniglotCrossing(MovingOmniglot):
    name = "moving_omniglot_crossing"
    description = ("moving_omniglot with a second character (of another class) crossing each "
                   "sequence's character at its middle frame")
    motion = Motion(crossing=True)


@register
class MovingMNIST(SequenceDataset):
    name = "moving_mnist"
    description = ("MNIST digits moving on a 28x28 canvas (100 drawings per digit and split, 20 "
                   "frames: bouncing, rotating, scaling); made from MNIST's official files")
    splits = ("train", "test")
    partition = splits
    train_split = "train"
    test_split = "test"
    image_shape = (1, 28, 28)
    kind = "glyphs"
    source_hint = "folder with the 4 official MNIST *-idx?-ubyte.gz files"
    source = "mnist"
    source_splits = {"train": "train", "test": "test"}
    motion = Motion(per_class=100)


def strip_rows(split: Split, sequences: int = 8, seed: int = 0) -> list[torch.Tensor]:
    """Every frame of ``sequences`` sequences picked by ``seed``, one row per sequence
    (``[T, C, H, W]`` float in [0, 1], time from left to right), for a strip of frames."""
    frames = frames_of(split)
    picked = np.random.default_rng(seed).choice(len(frames), min(sequences, len(frames)), replace=False)
    chosen = np.sort(picked)
    return [unit_float(frames[int(s)].contiguous()) for s in chosen]
