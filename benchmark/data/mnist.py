"""MNIST-style datasets read from the four official idx files (``*-idx3-ubyte[.gz]``)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from benchmark.data.archives import require_exists
from benchmark.data.builder import DatasetBuilder, check_nonempty, make_split, register
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array of an idx file (gzip or raw): ``[N, H, W]`` for images, ``[N]`` for labels."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise BenchmarkError(f"corrupt or truncated idx file {path}: {err}") from None
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise BenchmarkError(f"{path} is not an idx file with magic {magic}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise BenchmarkError(f"{path}: {len(raw) - header} data bytes, header says {shape}")
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(shape)


def _find(source: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (source / name).is_file():
            return source / name
    raise BenchmarkError(f"source {source} lacks {stem}.gz (the official MNIST-style layout)")


class IdxDataset(DatasetBuilder):
    """Base of the 28x28 grey-level idx datasets; subclasses give the torchvision class and names."""

    splits = ("train", "test")
    partition = ("train", "test")
    all_class_splits = ("train", "test")
    train_split = "train"
    test_split = "test"
    image_shape = (1, 28, 28)
    source_hint = "folder with the 4 official *-idx?-ubyte.gz files"
    class_names: ClassVar[tuple[str, ...]]
    torchvision_class: ClassVar[str]

    def download(self, workdir: Path) -> Path:
        import torchvision.datasets

        dataset = getattr(torchvision.datasets, self.torchvision_class)(str(workdir), download=True)
        return Path(dataset.raw_folder)

    def read(self, source: Path) -> dict[str, Split]:
        require_exists(source, "source")
        if not source.is_dir():
            raise BenchmarkError(f"source {source} must be the folder holding the idx files")
        splits = {}
        for split, (image_stem, label_stem) in FILES.items():
            images = read_idx(_find(source, image_stem), IMAGE_MAGIC)
            labels = read_idx(_find(source, label_stem), LABEL_MAGIC).astype(np.int64)
            if len(images) != len(labels) or (labels.size and labels.max() >= len(self.class_names)):
                raise BenchmarkError(f"{source}: {split} images and labels do not match")
            splits[split] = check_nonempty(
                make_split(self.name, split, images[:, None], labels, self.class_names), str(source))
        return splits


@register
class MNIST(IdxDataset):
    name = "mnist"
    kind = "glyphs"
    description = "MNIST handwritten digits, 10 classes, 60k train / 10k test, 28x28 grey"
    class_names = tuple(str(d) for d in range(10))
    torchvision_class = "MNIST"


@register
class FashionMNIST(IdxDataset):
    name = "fashion_mnist"
    description = "Fashion-MNIST clothing, 10 classes, 60k train / 10k test, 28x28 grey"
    class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
    torchvision_class = "FashionMNIST"


@register
class KMNIST(IdxDataset):
    name = "kmnist"
    kind = "glyphs"
    description = "Kuzushiji-MNIST cursive Japanese, 10 classes, 60k train / 10k test, 28x28 grey"
    class_names = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    torchvision_class = "KMNIST"
