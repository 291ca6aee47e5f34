"""Omniglot (Lake et al. 2015) from the official ``images_{background,evaluation}.zip`` layout.

The zips are read directly (zipfile + PIL), not through torchvision, whose md5 check rejects
rebuilt copies; what can be verified is: 20 drawings per character, 105x105 images, and the
official counts (964 background + 659 evaluation characters). Images are resized to 28x28
(Lanczos) and inverted so strokes are bright on black, as in Prototypical Networks. Class names
are ``Alphabet/characterNN``. The Vinyals et al. split lists each character once, in the background-then-evaluation order; rotations as
new classes are the episode sampler's job.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmark.data import archives, embedded, images
from benchmark.data.builder import DatasetBuilder, check_nonempty, make_split, register, select_by_name
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

SUBSETS = ("background", "evaluation")
OFFICIAL_CHARACTERS = {"background": 964, "evaluation": 659}
DRAWINGS = 20
ORIGINAL_SIZE = (105, 105)
SIZE = (28, 28)
VINYALS = ("train", "val", "test", "trainval")


def _subset_path(source: Path, subset: str) -> Path:
    for candidate in (source / f"images_{subset}.zip", source / f"images_{subset}"):
        if candidate.exists():
            return candidate
    raise BenchmarkError(f"source {source} lacks images_{subset}.zip (the official Omniglot layout)")


def read_subset(source: Path, subset: str) -> Split:
    """One of ``background``/``evaluation``: images ``uint8 [N, 1, 28, 28]``, 20 per character."""
    path = _subset_path(source, subset)
    drawings: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for name, data in archives.iter_entries(path):
        parts = name.split("/")
        if parts[0] == f"images_{subset}":
            parts = parts[1:]
        if data is None or not images.is_image_name(name):
            continue
        if len(parts) != 3:
            raise BenchmarkError(f"{path}: {name} is not images_{subset}/<alphabet>/<character>/<drawing>.png")
        drawings[f"{parts[0]}/{parts[1]}"].append((name, data))
    if not drawings:
        raise BenchmarkError(f"{path} holds no Omniglot drawings")
    class_names = sorted(drawings)
    arrays, labels = [], []
    for label, character in enumerate(class_names):
        if len(drawings[character]) != DRAWINGS:
            raise BenchmarkError(f"{path}: character {character} has {len(drawings[character])} "
                                 f"drawings, Omniglot has {DRAWINGS}")
        for name, data in sorted(drawings[character]):
            image = images.decode(data, f"{path}:{name}")
            if image.size != ORIGINAL_SIZE:
                raise BenchmarkError(f"{path}:{name} is {image.size[0]}x{image.size[1]}, Omniglot is 105x105")
            arrays.append(255 - images.to_uint8(image, 1, SIZE))
            labels.append(label)
    split = make_split("omniglot", subset, np.stack(arrays), np.array(labels), class_names)
    return check_nonempty(split, str(path))


def read_vinyals_lists(source: Path) -> dict[str, list[str]]:
    """``train/val/test/trainval`` → characters, from ``splits/vinyals/*.txt`` under ``source``
    (lines ``Alphabet/characterNN/rotDDD``), else the lists stored in the embedded file."""
    folder = source / "splits" / "vinyals"
    if not folder.is_dir():
        return embedded.vinyals_lists()
    lists = {}
    for split in VINYALS:
        path = archives.require_exists(folder / f"{split}.txt", "Vinyals split file")
        characters = ["/".join(line.strip().split("/")[:2]) for line in path.read_text().splitlines() if line.strip()]
        lists[split] = list(dict.fromkeys(characters))
    return lists


@register
class Omniglot(DatasetBuilder):
    name = "omniglot"
    description = ("Omniglot handwritten characters, 1623 classes x 20, 28x28 grey; "
                   "background/evaluation and the Vinyals 1028/172/423 split")
    splits = ("background", "evaluation") + tuple(f"vinyals_{s}" for s in VINYALS)
    partition = SUBSETS
    train_split = "vinyals_trainval"
    test_split = "vinyals_test"
    image_shape = (1, 28, 28)
    kind = "glyphs"
    source_hint = "folder with images_background.zip and images_evaluation.zip [+ splits/vinyals/*.txt]"

    def download(self, workdir: Path) -> Path:
        import torchvision.datasets

        for background in (True, False):
            torchvision.datasets.Omniglot(str(workdir), background=background, download=True)
        return workdir / "omniglot-py"

    def read(self, source: Path) -> dict[str, Split]:
        archives.require_exists(source, "source")
        if not source.is_dir():
            raise BenchmarkError(f"source {source} must be the folder holding images_background.zip")
        splits = {subset: read_subset(source, subset) for subset in SUBSETS}
        everything = concat(splits["background"], splits["evaluation"], "all")
        order = {c: i for i, c in enumerate(everything.class_names)}
        for split, characters in read_vinyals_lists(source).items():
            name = f"vinyals_{split}"
            ordered = sorted(characters, key=lambda c: order.get(c, -1))
            splits[name] = select_by_name(everything, ordered, name, str(source))
        return splits

    def verify(self, splits: dict[str, Split]) -> tuple[str, ...]:
        """Whether the background/evaluation character counts are the official ones."""
        found = {s: splits[s].num_classes for s in OFFICIAL_CHARACTERS}
        if found == OFFICIAL_CHARACTERS:
            return ("official counts verified: 964 background + 659 evaluation characters, 20 drawings each",)
        return (f"counts differ from the official Omniglot ({found} vs {OFFICIAL_CHARACTERS})",)

    def embedded_copy(self) -> Path:
        """All of Omniglot at 28x28 ships in the package (``benchmark.data.embedded``)."""
        return embedded.EMBEDDED_PATH

    def read_embedded(self, split: str) -> Split:
        return embedded.load_embedded(split)


def concat(first: Split, second: Split, name: str) -> Split:
    """Both splits' classes in one split (``second``'s labels shifted after ``first``'s)."""
    import torch

    return make_split(first.dataset, name, torch.cat([first.images, second.images]),
                      torch.cat([first.labels, second.labels + first.num_classes]),
                      first.class_names + second.class_names)
