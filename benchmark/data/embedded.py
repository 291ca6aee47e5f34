"""The embedded default: all of Omniglot (1623 characters x 20 drawings, 28x28) in the package.

One ``np.savez_compressed`` file, ``embedded/omniglot28.npz``, holding:

- ``images``: ``uint8 [32460, 28, 28]``, sorted by character;
- ``labels``: ``int16 [32460]``, index into ``class_names``;
- ``class_names``: ``Alphabet/characterNN`` per character (1623);
- ``subset``: per character, 0 = background, 1 = evaluation;
- ``vinyals``: per character, 0 = train, 1 = val, 2 = test (trainval = train + val).

It is written by ``python -m benchmark datasets embed`` from the prepared Omniglot (itself
prepared from the official archives), so the splits it gives equal the prepared ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.atomic import atomic_write
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

EMBEDDED_PATH = Path(__file__).parent / "embedded" / "omniglot28.npz"
SUBSET_CODES = {"background": 0, "evaluation": 1}
VINYALS_CODES = {"train": (0,), "val": (1,), "test": (2,), "trainval": (0, 1)}


def _arrays(path: Path = EMBEDDED_PATH) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise BenchmarkError(f"embedded Omniglot {path} is missing: run `python -m benchmark datasets "
                             "prepare omniglot --source DIR` then `python -m benchmark datasets embed`")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def embedded_splits() -> tuple[str, ...]:
    """The split names the embedded file serves."""
    return tuple(SUBSET_CODES) + tuple(f"vinyals_{s}" for s in VINYALS_CODES)


def load_embedded(split: str, path: Path = EMBEDDED_PATH) -> Split:
    """One Omniglot split from the embedded file: images ``uint8 [N, 1, 28, 28]``, read from the
    file on each call (``benchmark.data.load_split`` keeps what it loads in memory)."""
    import torch

    data = _arrays(path)
    if split in SUBSET_CODES:
        keep = np.flatnonzero(data["subset"] == SUBSET_CODES[split])
    elif split.startswith("vinyals_") and split[8:] in VINYALS_CODES:
        keep = np.flatnonzero(np.isin(data["vinyals"], VINYALS_CODES[split[8:]]))
    else:
        raise BenchmarkError(f"unknown omniglot split {split!r} (known: {', '.join(embedded_splits())})")
    remap = np.full(len(data["class_names"]), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    labels = remap[data["labels"].astype(np.int64)]
    rows = np.flatnonzero(labels >= 0)
    images = torch.from_numpy(data["images"][rows][:, None].copy())
    return Split("omniglot", split, images, torch.from_numpy(labels[rows]),
                 tuple(str(c) for c in data["class_names"][keep]))


def vinyals_lists(path: Path = EMBEDDED_PATH) -> dict[str, list[str]]:
    """``train/val/test/trainval`` → characters of the Vinyals split, as stored in the file."""
    data = _arrays(path)
    return {name: [str(c) for c in data["class_names"][np.isin(data["vinyals"], codes)]]
            for name, codes in VINYALS_CODES.items()}


def export_prepared(root: Path, out: Path | None = None) -> Path:
    """Write the embedded file (``out``, default ``EMBEDDED_PATH``) from the Omniglot prepared
    under ``root``; returns its path."""
    from benchmark.data import cache
    from benchmark.data.loading import load_split

    if cache.read_meta(root, "omniglot") is None:
        raise BenchmarkError(f"omniglot is not prepared in {root}: run `python -m benchmark datasets "
                             "prepare omniglot --source DIR` first")
    names = ("background", "evaluation", "vinyals_train", "vinyals_val", "vinyals_test")
    return export_embedded({n: load_split("omniglot", n, root) for n in names}, out or EMBEDDED_PATH)


def export_embedded(splits: dict[str, Split], path: Path = EMBEDDED_PATH) -> Path:
    """Write the embedded file from prepared Omniglot splits (``background``, ``evaluation`` and
    ``vinyals_{train,val,test}``); atomic. Returns ``path``."""
    background, evaluation = splits["background"], splits["evaluation"]
    class_names = background.class_names + evaluation.class_names
    vinyals = np.full(len(class_names), 255, dtype=np.uint8)
    index = {c: i for i, c in enumerate(class_names)}
    for name, (code,) in (("train", (0,)), ("val", (1,)), ("test", (2,))):
        for character in splits[f"vinyals_{name}"].class_names:
            vinyals[index[character]] = code
    if (vinyals == 255).any():
        raise BenchmarkError("the Vinyals split does not cover every Omniglot character")
    arrays = {
        "images": np.concatenate([background.images.numpy(), evaluation.images.numpy()])[:, 0],
        "labels": np.concatenate([background.labels.numpy(),
                                  evaluation.labels.numpy() + background.num_classes]).astype(np.int16),
        "class_names": np.array(class_names),
        "subset": np.repeat(np.array([0, 1], dtype=np.uint8), [background.num_classes, evaluation.num_classes]),
        "vinyals": vinyals,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
    return path
