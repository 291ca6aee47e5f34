"""The prepared cache: ``<root>/<dataset>/<split>.pt`` per split plus ``<root>/<dataset>/meta.json``.

A split file is ``torch.save`` of ``{"images": uint8 [N, C, H, W], "labels": int64 [N],
"class_names": [str]}``. A preparation first removes ``meta.json`` and writes it last, with
every split's fingerprint, so a dataset counts as prepared only when every split file of one
preparation is in place: a preparation killed between two split files leaves no ``meta.json``,
and a split file whose fingerprint is not the one ``meta.json`` records (another preparation's)
is refused when read. Every write goes to a temporary file in the same folder, is fsynced, then
renamed over the target; the temporary files of a write killed half-way are swept by the next
preparation.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmark.atomic import atomic_write, sweep_temporary
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
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BenchmarkError(f"corrupt metadata {path}: {err}; prepare again with --force") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("splits", {}), dict):
        raise BenchmarkError(f"corrupt metadata {path}: not a record of splits; "
                             "prepare again with --force")
    return meta


def write_prepared(root: Path, dataset: str, splits: dict[str, Split], meta: dict[str, Any]) -> None:
    """Store every split, then ``meta.json`` (``meta`` plus per-split counts and fingerprints)."""
    folder = dataset_dir(root, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).unlink(missing_ok=True)  # not prepared until every split is written
    sweep_temporary(folder)  # temporary files of a write killed half-way
    records = {}
    for name, split in splits.items():
        payload = {"images": split.images.contiguous(), "labels": split.labels.contiguous(),
                   "class_names": list(split.class_names)}
        atomic_write(split_path(root, dataset, name), lambda handle: torch.save(payload, handle))
        records[name] = {"file": f"{name}.pt", "images": len(split), "classes": split.num_classes,
                         "image_shape": list(split.image_shape), "fingerprint": split.fingerprint}
    record = dict(meta, dataset=dataset, splits=records)
    atomic_write(folder / META, lambda handle: handle.write(json.dumps(record, indent=2).encode()))


def read_split(root: Path, dataset: str, split: str, fingerprint: str | None = None) -> Split:
    """One prepared split, read from its file (``benchmark.data.load_split`` keeps it in memory).

    Args:
        fingerprint: the split's fingerprint as ``meta.json`` records it; a file of other
            contents (another preparation's, or altered) is refused.
    """
    path = split_path(root, dataset, split)
    again = f"prepare {dataset} again with --force"
    if not path.exists():
        raise BenchmarkError(f"prepared split file {path} is missing; {again}")
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchmarkError(f"corrupt prepared split {path}: {reason}; {again}") from None
    try:
        loaded = Split(dataset, split, payload["images"], payload["labels"],
                       tuple(str(name) for name in payload["class_names"]))
        if loaded.labels.dtype != torch.int64 or (
                len(loaded) and not 0 <= int(loaded.labels.min()) <= int(loaded.labels.max())
                < loaded.num_classes):
            raise ValueError("labels must be int64 class indices below the number of classes")
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise BenchmarkError(f"corrupt prepared split {path}: not a split file "
                             f"({str(err) or type(err).__name__}); {again}") from None
    if fingerprint is not None and loaded.fingerprint != fingerprint:
        raise BenchmarkError(f"prepared split {path} is not the one {META} records (fingerprint "
                             f"{loaded.fingerprint}, expected {fingerprint}): the files are of "
                             f"different preparations; {again}")
    return loaded
