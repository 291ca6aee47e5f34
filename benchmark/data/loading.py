"""Reading splits: ``load_split`` (the process's one cache of loaded splits) and ``dataset_info``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from benchmark.data import cache
from benchmark.data.builder import DATASETS, DatasetInfo, builder
from benchmark.data.imagefolder import default_splits
from benchmark.data.root import resolve_data_root
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
IMAGEFOLDER = "imagefolder"


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name (lower-case letters, digits, ``_.-``)."""
    if not NAME_PATTERN.match(name):
        raise BenchmarkError(f"invalid dataset name {name!r}: use lower-case letters, digits, '_', '.', '-'")
    return name


def prepared_imagefolders(root: Path) -> list[str]:
    """Names of the ImageFolder datasets prepared under ``root``."""
    if not root.is_dir():
        return []
    names = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name)):
        meta = cache.read_meta(root, folder.name)
        if meta and meta.get("kind") == IMAGEFOLDER:
            names.append(folder.name)
    return names


def _imagefolder_info(name: str, meta: dict) -> DatasetInfo:
    splits = tuple(meta["splits"])
    train, test = default_splits(list(splits))
    first = next(iter(meta["splits"].values()))
    return DatasetInfo(name, f"ImageFolder tree from {meta.get('source')}", splits, train, test,
                       tuple(first["image_shape"]))


def canonical_name(name: str) -> str:
    """The cache name of a dataset: ``imagefolder:NAME`` (as given to ``prepare``) is ``NAME``."""
    prefix = IMAGEFOLDER + ":"
    return name[len(prefix):] if name.startswith(prefix) else name


def dataset_info(name: str, data_root: Path | None = None) -> DatasetInfo:
    """Splits, default train/test split and image shape of a registered (or ImageFolder-prepared,
    named ``NAME`` or ``imagefolder:NAME``) dataset; BenchmarkError if unknown."""
    name = canonical_name(name)
    if name in DATASETS:
        return builder(name).info()
    root = resolve_data_root(data_root)
    meta = cache.read_meta(root, name) if NAME_PATTERN.match(name) else None
    if meta and meta.get("kind") == IMAGEFOLDER:
        return _imagefolder_info(name, meta)
    known = ", ".join([n for n in DATASETS.names() if n != IMAGEFOLDER] + prepared_imagefolders(root))
    raise BenchmarkError(f"unknown dataset {name!r} (known: {known}; or prepare one with "
                         f"`python -m benchmark datasets prepare imagefolder:{name} --source DIR`)")


#: The one cache of loaded splits: ``(file, split)`` → ``((mtime_ns, size) of the file, Split)``
#: (an embedded copy, which may serve several datasets, is keyed ``(file, dataset/split)``).
_LOADED: dict[tuple[str, str], tuple[tuple[int, int], Split]] = {}


def _remember(path: Path, split: str, read: Callable[[], Split]) -> Split:
    """``read()``, kept in memory for this process while ``path`` keeps its mtime and size."""
    try:
        stat = path.stat()
    except OSError:
        return read()  # the reader names what is missing
    key, stamp = (str(path), split), (stat.st_mtime_ns, stat.st_size)
    hit = _LOADED.get(key)
    if hit is None or hit[0] != stamp:
        hit = _LOADED[key] = (stamp, read())
    return hit[1]


def load_split(dataset: str, split: str, data_root: Path | None = None) -> Split:
    """A prepared split: images ``uint8 [N, C, H, W]``, labels ``int64 [N]``, class names.

    Loaded once per process and kept while its file is unchanged (a split prepared again is
    read again). A dataset that ships an embedded copy (``DatasetBuilder.embedded_copy``) is
    served from it when it is not prepared. Unknown dataset or split, or a dataset that is
    not prepared: BenchmarkError naming the command to run.
    """
    dataset = canonical_name(dataset)
    info = dataset_info(dataset, data_root)
    if split not in info.splits:
        raise BenchmarkError(f"unknown split {split!r} of {dataset} (known: {', '.join(info.splits)})")
    root = resolve_data_root(data_root)
    meta = cache.read_meta(root, dataset)
    if meta and split in meta.get("splits", {}):
        recorded = meta["splits"][split]
        expected = recorded.get("fingerprint") if isinstance(recorded, dict) else None
        return _remember(cache.split_path(root, dataset, split), split,
                         lambda: cache.read_split(root, dataset, split, expected))
    source = builder(dataset)
    copy = source.embedded_copy()
    if copy is not None:
        return _remember(copy, f"{dataset}/{split}", lambda: source.read_embedded(split))
    raise BenchmarkError(f"{dataset} is not prepared in {root}: run `python -m benchmark datasets prepare "
                         f"{dataset}` (needs network) or add `--source PATH` ({source.source_hint})")
