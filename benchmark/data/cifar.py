"""CIFAR-10, CIFAR-100 and the few-shot class splits built on them (CIFAR-FS, FC100).

Official sources are the python tarballs (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``),
as torchvision downloads them. CIFAR-10 is also accepted as an ImageFolder tree with ``train`` and
``test`` folders of the ten class folders (e.g. ``CIFAR-10-images.tar.gz``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from benchmark.data import archives
from benchmark.data.builder import DatasetBuilder, check_nonempty, make_split, register, select_by_name
from benchmark.data.imagefolder import read_imagefolder
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"

#: CIFAR-FS (Bertinetto et al. 2019): 16 validation and 20 test classes; the other 64 train.
CIFAR_FS_VAL = ("otter", "motorcycle", "television", "lamp", "crocodile", "shark", "butterfly",
                "beaver", "beetle", "tractor", "flatfish", "maple_tree", "camel", "crab", "sea", "cattle")
CIFAR_FS_TEST = ("baby", "bed", "bicycle", "chimpanzee", "fox", "leopard", "man", "pickup_truck",
                 "plain", "poppy", "rocket", "rose", "snail", "sweet_pepper", "table", "telephone",
                 "wardrobe", "whale", "woman", "worm")
#: FC100 (Oreshkin et al. 2018): CIFAR-100 superclasses, 4 for validation, 4 for test, 12 train.
FC100_VAL = ("large_carnivores", "large_omnivores_and_herbivores", "non-insect_invertebrates",
             "small_mammals")
FC100_TEST = ("aquatic_mammals", "insects", "medium_mammals", "people")


def _pickles(source: Path, archive_name: str, wanted: set[str]) -> dict[str, Any]:
    """Unpickled members of a CIFAR python tarball (or its extracted folder), keyed by basename."""
    path = source / archive_name if source.is_dir() and (source / archive_name).is_file() else source
    found: dict[str, Any] = {}
    for name, data in archives.iter_entries(path):
        base = name.rsplit("/", 1)[-1]
        if data is not None and base in wanted:
            try:
                found[base] = pickle.loads(data, encoding="latin1")
            except Exception as err:  # any unpickling failure means a corrupt member
                raise BenchmarkError(f"corrupt CIFAR member {name} in {path}: {err}") from None
    return found


def _images(batch: dict, where: str) -> np.ndarray:
    data = np.asarray(batch.get("data"), dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise BenchmarkError(f"{where}: CIFAR batch data must be [N, 3072] bytes")
    return data.reshape(-1, 3, 32, 32)


def read_cifar10(source: Path, dataset: str = "cifar10") -> dict[str, Split]:
    """``train`` and ``test`` of CIFAR-10 from the python tarball or an ImageFolder tree."""
    archives.require_exists(source, "source")
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    found = _pickles(source, CIFAR10_ARCHIVE, set(batches) | {"test_batch"})
    if not found:
        return _cifar10_from_imagefolder(source, dataset)
    missing = [b for b in batches + ["test_batch"] if b not in found]
    if missing:
        raise BenchmarkError(f"source {source} lacks CIFAR-10 member {missing[0]}")
    splits = {}
    for split, members in (("train", batches), ("test", ["test_batch"])):
        images = np.concatenate([_images(found[m], m) for m in members])
        labels = np.concatenate([np.asarray(found[m]["labels"], dtype=np.int64) for m in members])
        splits[split] = check_nonempty(make_split(dataset, split, images, labels, CIFAR10_CLASSES), str(source))
    return splits


def _cifar10_from_imagefolder(source: Path, dataset: str) -> dict[str, Split]:
    splits = read_imagefolder(source, dataset)
    for split in ("train", "test"):
        if split not in splits:
            raise BenchmarkError(f"source {source} is neither the CIFAR-10 python archive nor an "
                                 f"ImageFolder with train/ and test/ (no {split!r})")
        if splits[split].class_names != CIFAR10_CLASSES or splits[split].image_shape != (3, 32, 32):
            raise BenchmarkError(f"source {source}: {split}/ must hold the 10 CIFAR-10 class "
                                 "folders of 32x32 colour images")
    return {"train": splits["train"], "test": splits["test"]}


def read_cifar100(source: Path, dataset: str) -> tuple[Split, dict[str, str], int]:
    """All 60k CIFAR-100 images as one split (train then test), fine → coarse class names, and
    the number of train-set images (they come first)."""
    archives.require_exists(source, "source")
    found = _pickles(source, CIFAR100_ARCHIVE, {"train", "test", "meta"})
    missing = [m for m in ("train", "test", "meta") if m not in found]
    if missing:
        raise BenchmarkError(f"source {source} is not the CIFAR-100 python archive (no member {missing[0]!r})")
    fine_names = list(found["meta"]["fine_label_names"])
    coarse_names = list(found["meta"]["coarse_label_names"])
    images = np.concatenate([_images(found[m], m) for m in ("train", "test")])
    fine = np.concatenate([np.asarray(found[m]["fine_labels"], dtype=np.int64) for m in ("train", "test")])
    coarse = np.concatenate([np.asarray(found[m]["coarse_labels"], dtype=np.int64) for m in ("train", "test")])
    fine_to_coarse = {fine_names[f]: coarse_names[c] for f, c in zip(fine.tolist(), coarse.tolist())}
    split = check_nonempty(make_split(dataset, "all", images, fine, fine_names), str(source))
    return split, fine_to_coarse, len(found["train"]["fine_labels"])


class _CifarBuilder(DatasetBuilder):
    image_shape = (3, 32, 32)
    torchvision_class: ClassVar[str]
    archive: ClassVar[str]

    def download(self, workdir: Path) -> Path:
        import torchvision.datasets

        getattr(torchvision.datasets, self.torchvision_class)(str(workdir), download=True)
        return workdir / self.archive


@register
class CIFAR10(_CifarBuilder):
    name = "cifar10"
    description = ("CIFAR-10, 10 classes 32x32 colour; fewshot_train = airplane..dog (train set), "
                   "fewshot_test = frog..truck (test set)")
    splits = ("train", "test", "fewshot_train", "fewshot_test")
    partition = ("train", "test")
    all_class_splits = ("train", "test")
    train_split = "train"
    test_split = "test"
    source_hint = f"{CIFAR10_ARCHIVE} or an ImageFolder train/test tree (.tar.gz)"
    torchvision_class = "CIFAR10"
    archive = CIFAR10_ARCHIVE

    def read(self, source: Path) -> dict[str, Split]:
        splits = read_cifar10(source, self.name)
        splits["fewshot_train"] = splits["train"].select_classes(list(range(6)), name="fewshot_train")
        splits["fewshot_test"] = splits["test"].select_classes(list(range(6, 10)), name="fewshot_test")
        return splits


class _Cifar100Builder(_CifarBuilder):
    source_hint = CIFAR100_ARCHIVE
    torchvision_class = "CIFAR100"
    archive = CIFAR100_ARCHIVE


@register
class CIFAR100(_Cifar100Builder):
    name = "cifar100"
    description = "CIFAR-100, 100 classes 32x32 colour, 50k train / 10k test"
    splits = ("train", "test")
    partition = ("train", "test")
    all_class_splits = ("train", "test")
    train_split = "train"
    test_split = "test"

    def read(self, source: Path) -> dict[str, Split]:
        everything, _, n_train = read_cifar100(source, self.name)
        names = everything.class_names
        return {
            "train": make_split(self.name, "train", everything.images[:n_train],
                                everything.labels[:n_train], names),
            "test": make_split(self.name, "test", everything.images[n_train:],
                               everything.labels[n_train:], names),
        }


class _ClassSplitBuilder(_Cifar100Builder):
    """CIFAR-100 split by class into train/val/test, all 600 images of each class."""

    splits = ("train", "val", "test")
    partition = ("train", "val", "test")
    train_split = "train"
    test_split = "test"

    @abstractmethod
    def class_lists(self, fine_names: tuple[str, ...], fine_to_coarse: dict[str, str]) -> dict[str, list[str]]:
        """Split name → fine class names."""

    def read(self, source: Path) -> dict[str, Split]:
        everything, fine_to_coarse, _ = read_cifar100(source, self.name)
        lists = self.class_lists(everything.class_names, fine_to_coarse)
        return {s: select_by_name(everything, lists[s], s, str(source)) for s in self.splits}


@register
class CIFARFS(_ClassSplitBuilder):
    name = "cifar_fs"
    description = "CIFAR-FS: CIFAR-100 classes split 64/16/20 (Bertinetto et al. 2019), 32x32 colour"

    def class_lists(self, fine_names, fine_to_coarse):
        held_out = set(CIFAR_FS_VAL) | set(CIFAR_FS_TEST)
        return {"train": [c for c in fine_names if c not in held_out],
                "val": list(CIFAR_FS_VAL), "test": list(CIFAR_FS_TEST)}


@register
class FC100(_ClassSplitBuilder):
    name = "fc100"
    description = "FC100: CIFAR-100 split by superclass 12/4/4 (Oreshkin et al. 2018), 32x32 colour"

    def class_lists(self, fine_names, fine_to_coarse):
        held_out = set(FC100_VAL) | set(FC100_TEST)
        by = lambda keep: [c for c in fine_names if keep(fine_to_coarse.get(c))]  # noqa: E731
        return {"train": by(lambda s: s not in held_out),
                "val": by(lambda s: s in FC100_VAL), "test": by(lambda s: s in FC100_TEST)}
