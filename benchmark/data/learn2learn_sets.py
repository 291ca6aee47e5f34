"""mini-ImageNet, tiered-ImageNet and CUB-200-2011 through learn2learn's dataset classes.

learn2learn knows where the official few-shot archives live and their layout; ``download`` lets
it fetch them, ``read`` lets it open a local copy in that layout (``--source``) and converts
every image to ``uint8 [3, 84, 84]``. Split names: ``train``/``val``/``test``
(learn2learn's ``validation`` mode is ``val``).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from benchmark.data import archives, images
from benchmark.data.builder import DatasetBuilder, check_nonempty, make_split, register
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

MODES = {"train": "train", "val": "validation", "test": "test"}
SIZE = (84, 84)


def _to_array(item: Any) -> np.ndarray:
    """``uint8 [3, 84, 84]`` from what learn2learn's datasets return: a PIL image, or a
    ``[3, H, W]`` tensor of floats in 0..255."""
    if isinstance(item, Image.Image):
        return images.to_uint8(item, 3, SIZE)
    return images.to_uint8(torch.as_tensor(item).float(), size=SIZE, float_max=255.0)


def _class_names(dataset: Any, labels: list[int]) -> list[str]:
    """Class names learn2learn knows (mini-ImageNet wnids), else the label numbers."""
    mapping = getattr(dataset, "class_idx", None)
    n = max(labels) + 1
    if isinstance(mapping, dict) and len(mapping) == n:
        inverse = {int(v): str(k) for k, v in mapping.items()}
        return [inverse[i] for i in range(n)]
    return [str(i) for i in range(n)]


def convert(dataset: Any, name: str, split: str, where: str) -> Split:
    """A learn2learn dataset (items ``(image, label)``) as a ``Split``; labels compacted to 0..C-1."""
    arrays, labels = [], []
    for i in range(len(dataset)):
        image, label = dataset[i]
        arrays.append(_to_array(image))
        labels.append(int(label))
    if not arrays:
        raise BenchmarkError(f"{where}: {split} split has no images")
    names = _class_names(dataset, labels)
    used = sorted(set(labels))
    remap = {old: new for new, old in enumerate(used)}
    return check_nonempty(make_split(name, split, np.stack(arrays), np.array([remap[l] for l in labels]),
                                     [names[u] for u in used]), where)


class Learn2LearnDataset(DatasetBuilder):
    """Base: subclasses name the learn2learn class and the files ``read`` needs in ``source``."""

    splits = ("train", "val", "test")
    partition = ("train", "val", "test")
    train_split = "train"
    test_split = "test"
    image_shape = (3, 84, 84)
    l2l_class: ClassVar[str]
    required: ClassVar[tuple[str, ...]]

    def _open(self, root: Path, mode: str, download: bool) -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            import learn2learn.vision.datasets as l2l_datasets

            return getattr(l2l_datasets, self.l2l_class)(root=str(root), mode=mode, download=download)

    def download(self, workdir: Path) -> Path:
        for mode in MODES.values():
            self._open(workdir, mode, download=True)
        return workdir

    def read(self, source: Path) -> dict[str, Split]:
        archives.require_exists(source, "source")
        missing = [f for f in self.required if not (source / f).exists()]
        if missing:
            raise BenchmarkError(f"source {source} lacks {missing[0]} (learn2learn's {self.name} layout)")
        splits = {}
        for split, mode in MODES.items():
            try:
                dataset = self._open(source, mode, download=False)
            except Exception as err:  # learn2learn raises whatever its readers raise
                raise BenchmarkError(f"cannot read {self.name} {split} from {source}: {err}") from None
            splits[split] = convert(dataset, self.name, split, str(source))
        return splits


@register
class MiniImageNet(Learn2LearnDataset):
    name = "mini_imagenet"
    description = "mini-ImageNet (Ravi & Larochelle split) 64/16/20 classes x 600, 84x84 colour"
    l2l_class = "MiniImagenet"
    required = tuple(f"mini-imagenet-cache-{m}.pkl" for m in MODES.values())
    source_hint = "folder with mini-imagenet-cache-{train,validation,test}.pkl"


@register
class TieredImageNet(Learn2LearnDataset):
    name = "tiered_imagenet"
    description = "tiered-ImageNet 351/97/160 classes (34 super-categories), 84x84 colour"
    l2l_class = "TieredImagenet"
    required = tuple(f"tiered-imagenet/{s}_{kind}.pkl" for s in ("train", "val", "test")
                     for kind in ("images_png", "labels"))
    source_hint = "folder with tiered-imagenet/{train,val,test}_{images_png,labels}.pkl"


@register
class CUB(Learn2LearnDataset):
    name = "cub"
    description = "CUB-200-2011 birds, 100/50/50 classes (learn2learn split), resized to 84x84 colour"
    l2l_class = "CUBirds200"
    required = ("cubirds200/CUB_200_2011/images",)
    source_hint = "folder with cubirds200/CUB_200_2011/images (the official CUB_200_2011.tgz extracted)"
