"""ImageFolder trees (``[split/]class/image``), as a directory or a ``.zip``/``.tar.gz`` of one.

A tree whose images sit two levels down (``class/image``) is one split called ``all``; three
levels down (``split/class/image``) gives one split per top folder. A single wrapping folder
(``CIFAR-10-images/train/...``) is skipped. Class ids follow the sorted class-folder names.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmark.data import archives, images
from benchmark.data.builder import DatasetBuilder, check_nonempty, make_split, register
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

SINGLE_SPLIT = "all"


def read_imagefolder(source: Path, dataset: str, size: tuple[int, int] | None = None) -> dict[str, Split]:
    """Every split of the ImageFolder tree at ``source``.

    Args:
        source: directory, ``.zip`` or ``.tar(.gz)`` holding the tree.
        dataset: dataset name stored in the splits.
        size: ``(H, W)`` to resize every image to; required when image sizes differ.

    Returns:
        split name → ``Split`` with images ``uint8 [N, C, H, W]`` (C = 1 if every image is
        grey-level, else 3).
    """
    files: dict[str, bytes] = {}
    dirs: set[str] = set()
    for name, data in archives.iter_entries(source):
        if data is None:
            dirs.add(name)
        elif images.is_image_name(name):
            files[name] = data
    if not files:
        raise BenchmarkError(f"source {source} holds no images: not an ImageFolder tree")
    depth, strip = _layout(source, list(files))
    tree: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name in sorted(files):
        parts = name.split("/")[strip:]
        split, cls = (parts[0], parts[1]) if depth == 3 else (SINGLE_SPLIT, parts[0])
        tree[split][cls].append(name)
    _check_empty_folders(source, dirs, next(iter(files)).split("/")[:strip], depth, tree)
    decoded = {n: images.decode(files[n], f"{source}:{n}") for n in files}
    channels = 1 if all(images.channels_of(im) == 1 for im in decoded.values()) else 3
    sizes = {(im.height, im.width) for im in decoded.values()}
    if size is None and len(sizes) > 1:
        raise BenchmarkError(
            f"images in {source} have {len(sizes)} different sizes (e.g. {sorted(sizes)[:2]}): "
            "give an image size to resize to")
    target = size or next(iter(sizes))
    splits = {}
    for split, classes in sorted(tree.items()):
        names = sorted(classes)
        arrays, labels = [], []
        for label, cls in enumerate(names):
            for n in classes[cls]:
                arrays.append(images.to_uint8(decoded[n], channels, target))
                labels.append(label)
        splits[split] = check_nonempty(
            make_split(dataset, split, np.stack(arrays), np.array(labels), names), str(source))
    return splits


def _layout(source: Path, names: list[str]) -> tuple[int, int]:
    """``(depth after stripping, number of leading folders to strip)``; BenchmarkError if mixed."""
    parts = [n.split("/") for n in names]
    depths = {len(p) for p in parts}
    if len(depths) != 1:
        raise BenchmarkError(
            f"source {source} is not an ImageFolder tree: images at different depths {sorted(depths)}")
    depth = depths.pop()
    common = 0
    while common < depth - 1 and len({p[common] for p in parts}) == 1:
        common += 1
    strip = min(common, depth - 2)
    if depth < 2 or depth - strip not in (2, 3):
        raise BenchmarkError(
            f"source {source} is not an ImageFolder tree ([split/]class/image): images {depth} levels deep")
    return depth - strip, strip


def _check_empty_folders(source: Path, dirs: set[str], prefix: list[str], depth: int,
                         tree: dict[str, dict[str, list[str]]]) -> None:
    """BenchmarkError for a split or class folder of the tree that holds no image."""
    for d in sorted(dirs):
        parts = d.split("/")
        if parts[:len(prefix)] != prefix:
            continue
        rest = parts[len(prefix):]
        if depth == 3 and len(rest) == 1 and rest[0] not in tree:
            raise BenchmarkError(f"source {source}: split folder {d!r} has no images")
        if len(rest) == depth - 1:
            split, cls = (rest[0], rest[1]) if depth == 3 else (SINGLE_SPLIT, rest[0])
            if cls not in tree.get(split, {}):
                raise BenchmarkError(f"source {source}: class folder {d!r} has no images")


@register
class ImageFolderDataset(DatasetBuilder):
    """Any ImageFolder tree, prepared under a name of your choice: `imagefolder:NAME --source DIR`."""

    name = "imagefolder"
    description = __doc__.splitlines()[0]
    splits = ()
    partition = ()
    train_split = "train"
    test_split = "test"
    image_shape = (0, 0, 0)
    source_hint = "an ImageFolder directory or .tar.gz of one ([split/]class/image)"
    def __init__(self, prepared_name: str = "imagefolder", size: tuple[int, int] | None = None) -> None:
        """``prepared_name``: the NAME of ``imagefolder:NAME``; ``size``: ``(H, W)`` to resize to."""
        self.prepared_name = prepared_name
        self.size = size

    def download(self, workdir: Path) -> Path:
        raise BenchmarkError("imagefolder datasets cannot be downloaded: give --source DIR")

    def read(self, source: Path) -> dict[str, Split]:
        return read_imagefolder(source, self.prepared_name, self.size)


def default_splits(split_names: list[str]) -> tuple[str, str]:
    """``(train, test)`` split names for an ImageFolder: ``train``/``test`` (or ``val``) if present."""
    train = "train" if "train" in split_names else split_names[0]
    test = next((s for s in ("test", "val", "validation") if s in split_names), train)
    return train, test
