"""The dataset registry: each entry is a builder class that knows a dataset's splits and sources.

A builder reads a dataset's **official layout** from a local path (``read``) and knows how to
fetch that layout from the official source with the library that already knows it
(``download``). ``benchmark.cli.dataset_tools.prepare`` turns what ``read`` returns into the prepared cache.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset offers, without loading it.

    Attributes:
        name: registered name (or the name an ImageFolder was prepared under).
        description: one line.
        splits: split names, e.g. ``("background", "evaluation", "vinyals_train", ...)``.
        train_split / test_split: the default splits to train on and to evaluate on.
        image_shape: ``(C, H, W)`` of every image.
        kind: what the images show, which decides their default view augmentation
            (``benchmark.transforms.presets``): ``"glyphs"`` or ``"natural"``.
        all_class_splits: the splits holding images of every class of the dataset; training
            on one and evaluating on another split of the same dataset is not a transfer to
            new classes (``classes_overlap``).
    """

    name: str
    description: str
    splits: tuple[str, ...]
    train_split: str
    test_split: str
    image_shape: tuple[int, int, int]
    kind: str = "natural"
    all_class_splits: tuple[str, ...] = ()

    def classes_overlap(self, train_split: str, eval_split: str) -> bool:
        """Whether evaluating on ``eval_split`` after training on ``train_split`` (both of
        this dataset) meets classes seen in training."""
        return train_split == eval_split or bool({train_split, eval_split} & set(self.all_class_splits))


class DatasetBuilder(ABC):
    """Base of every registered dataset. Subclasses set the class attributes and ``read``.

    ``partition`` lists the splits that together hold every image once (used to count classes
    and images); the other splits are class selections of them.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    splits: ClassVar[tuple[str, ...]]
    partition: ClassVar[tuple[str, ...]]
    train_split: ClassVar[str]
    test_split: ClassVar[str]
    image_shape: ClassVar[tuple[int, int, int]]
    #: what the images show (``DatasetInfo.kind``): "glyphs" (characters, digits) or "natural"
    kind: ClassVar[str] = "natural"
    #: the splits holding images of every class (``DatasetInfo.all_class_splits``)
    all_class_splits: ClassVar[tuple[str, ...]] = ()
    #: what ``--source`` should point at, for error messages and ``datasets list``.
    source_hint: ClassVar[str]

    def info(self) -> DatasetInfo:
        return DatasetInfo(self.name, self.description, self.splits, self.train_split,
                           self.test_split, self.image_shape, self.kind, self.all_class_splits)

    @abstractmethod
    def download(self, workdir: Path) -> Path:
        """Fetch the official files into ``workdir``; returns the path to give ``read``."""

    @abstractmethod
    def read(self, source: Path) -> dict[str, Split]:
        """Every split, read from ``source`` in the official layout (BenchmarkError if it is not)."""

    def verify(self, splits: dict[str, Split]) -> tuple[str, ...]:
        """Notes on the splits ``prepare`` has just read (e.g. counts checked against the
        official ones), stored and printed with its report; none by default."""
        return ()

    def embedded_copy(self) -> Path | None:
        """The file of a copy shipped in the package, which serves every split while the
        dataset is not prepared; None (the default) when there is none."""
        return None

    def read_embedded(self, split: str) -> Split:
        """One split from ``embedded_copy()``, read from the file (only for a builder that ships one)."""
        raise BenchmarkError(f"{self.name} has no embedded copy")

    def embedded_size(self, split: str) -> tuple[int, int] | None:
        """``(classes, images)`` of one split of ``embedded_copy()`` (what ``datasets list``
        shows) where they can be counted without making the split; None (the default): count
        them on the loaded split, which the process's cache of splits then keeps."""
        return None


DATASETS: Registry[type[DatasetBuilder]] = Registry("dataset")


def register(cls: type[DatasetBuilder]) -> type[DatasetBuilder]:
    """Class decorator: register ``cls`` under ``cls.name`` with ``cls.description``."""
    return DATASETS.register(cls.name, cls.description)(cls)


def builder(name: str) -> DatasetBuilder:
    """An instance of the builder registered as ``name`` (BenchmarkError if unknown)."""
    return DATASETS.get(name)()


def dataset_kind(name: str) -> str:
    """The ``kind`` of a registered dataset; ``"natural"`` for any other name (a prepared
    ImageFolder tree, a split made in Python)."""
    return DATASETS.get(name).kind if name in DATASETS else "natural"


def make_split(dataset: str, name: str, images: np.ndarray | torch.Tensor,
               labels: np.ndarray | torch.Tensor, class_names: list[str] | tuple[str, ...]) -> Split:
    """A ``Split`` from arrays: images ``uint8 [N, C, H, W]``, labels ``[N]`` in ``0..C-1``."""
    images_t = torch.as_tensor(np.ascontiguousarray(images), dtype=torch.uint8)
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    return Split(dataset, name, images_t, labels_t, tuple(class_names))


def check_nonempty(split: Split, where: str) -> Split:
    """``split`` if every class has at least one image; a BenchmarkError otherwise."""
    if len(split) == 0:
        raise BenchmarkError(f"{where}: split {split.name!r} has no images")
    empty = [split.class_names[i] for i, n in enumerate(split.class_counts().tolist()) if n == 0]
    if empty:
        raise BenchmarkError(f"{where}: class {empty[0]!r} of split {split.name!r} has no images")
    return split


def select_by_name(split: Split, class_names: list[str], name: str, where: str) -> Split:
    """The classes ``class_names`` of ``split``, in that order, as a split called ``name``."""
    index = {c: i for i, c in enumerate(split.class_names)}
    missing = [c for c in class_names if c not in index]
    if missing:
        raise BenchmarkError(f"{where}: class {missing[0]!r} of split {name!r} is not in the source")
    return split.select_classes([index[c] for c in class_names], name=name)
