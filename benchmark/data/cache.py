"""The prepared cache: ``<root>/<dataset>/<split>.pt`` per split plus ``<root>/<dataset>/meta.json``.

A split file is ``torch.save`` of ``{"images": uint8 [N, C, H, W], "labels": int64 [N],
"class_names": [str]}``. ``meta.json`` is written last, so a dataset counts as prepared only
when every split file it lists is in place. Every write goes to a temporary file in the same
folder, is fsynced, then renamed over the target.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmark.atomic import atomic_write
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

META = "meta.json"


def ensure_writable(root: Path) -> Path:
    """Create ``root`` if needed and check a file can be written in it; BenchmarkError otherwise."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        raise BenchmarkError(f"data root {root} is not writable: {err.strerror or err}") from None
    return root


def dataset_dir(root: Path, dataset: str) -> Path:
    return root / dataset


def split_path(root: Path, dataset: str, split: str) -> Path:
    return dataset_dir(root, dataset) / f"{split}.pt"


def read_meta(root: Path, dataset: str) -> dict[str, Any] | None:
    """The metadata record of a prepared dataset, or None when it is not prepared."""
    path = dataset_dir(root, dataset) / META
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BenchmarkError(f"corrupt metadata {path}: {err}; prepare again with --force") from None


def write_prepared(root: Path, dataset: str, splits: dict[str, Split], meta: dict[str, Any]) -> None:
    """Store every split, then ``meta.json`` (``meta`` plus per-split counts and fingerprints)."""
    folder = dataset_dir(root, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    records = {}
    for name, split in splits.items():
        payload = {"images": split.images.contiguous(), "labels": split.labels.contiguous(),
                   "class_names": list(split.class_names)}
        atomic_write(split_path(root, dataset, name), lambda handle: torch.save(payload, handle))
        records[name] = {"file": f"{name}.pt", "images": len(split), "classes": split.num_classes,
                         "image_shape": list(split.image_shape), "fingerprint": split.fingerprint}
    record = dict(meta, dataset=dataset, splits=records)
    atomic_write(folder / META, lambda handle: handle.write(json.dumps(record, indent=2).encode()))


def read_split(root: Path, dataset: str, split: str) -> Split:
    """One prepared split, read from its file (``benchmark.data.load_split`` keeps it in memory)."""
    path = split_path(root, dataset, split)
    if not path.exists():
        raise BenchmarkError(f"prepared split file {path} is missing; prepare {dataset} again with --force")
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise BenchmarkError(f"corrupt prepared split {path}: {err}; prepare {dataset} again with --force") from None
    return Split(dataset, split, payload["images"], payload["labels"], tuple(payload["class_names"]))
