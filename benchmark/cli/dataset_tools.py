"""What ``datasets list``, ``datasets prepare`` and ``datasets embed`` do, and how they print."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torchvision

from benchmark.spec import limits
from benchmark.data import cache, embedded
from benchmark.data.builder import DATASETS, DatasetBuilder, builder
from benchmark.data.imagefolder import ImageFolderDataset
from benchmark.data.loading import (IMAGEFOLDER, check_name, dataset_info, load_split,
                                    prepared_imagefolders)
from benchmark.data.root import resolve_data_root
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class SplitCount:
    """Counts of one prepared split."""

    name: str
    classes: int
    images: int
    image_shape: tuple[int, int, int]


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` did: the dataset, where from, where to, and per-split counts."""

    dataset: str
    source: str
    path: Path
    splits: tuple[SplitCount, ...]
    total: dict[str, Any]
    skipped: bool
    notes: tuple[str, ...] = ()


def _resolve_builder(name: str, image_size: tuple[int, int] | None) -> tuple[str, DatasetBuilder]:
    if name.startswith(IMAGEFOLDER + ":"):
        prepared = check_name(name.split(":", 1)[1])
        if prepared in DATASETS:
            raise BenchmarkError(f"{prepared!r} is a registered dataset: choose another name for the ImageFolder")
        return prepared, ImageFolderDataset(prepared, image_size)
    if name == IMAGEFOLDER:
        raise BenchmarkError("name the ImageFolder dataset: `datasets prepare imagefolder:NAME --source DIR`")
    return name, builder(name)


def _read(dataset: DatasetBuilder, name: str, source: Path | None, root: Path) -> tuple[dict[str, Split], str]:
    if source is not None:
        source = source.expanduser()
        return dataset.read(source), str(source.resolve())
    workdir = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        try:
            path = dataset.download(workdir)
        except BenchmarkError:
            raise
        except Exception as err:  # network and library errors of every kind
            reason = " ".join(str(err).split())
            raise BenchmarkError(f"downloading {name} failed ({type(err).__name__}: {reason}); without a "
                                 f"network give --source PATH ({dataset.source_hint})") from None
        return dataset.read(path), "download"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _counts(meta: dict[str, Any]) -> tuple[SplitCount, ...]:
    return tuple(SplitCount(n, r["classes"], r["images"], tuple(r["image_shape"])) for n, r in meta["splits"].items())


def totals(splits: dict[str, Split], partition: tuple[str, ...]) -> dict[str, Any]:
    """Distinct classes and images over the partition splits, and images per class if uniform."""
    parts = [splits[p] for p in partition]
    names = [c for p in parts for c in p.class_names]
    counts = {c: 0 for c in names}
    for p in parts:
        for c, n in zip(p.class_names, p.class_counts().tolist()):
            counts[c] += n
    per_class = set(counts.values())
    return {"classes": len(counts), "images": sum(len(p) for p in parts),
            "images_per_class": per_class.pop() if len(per_class) == 1 else None,
            "disjoint_classes": len(names) == len(counts), "partition": list(partition)}


def prepare(name: str, source: Path | None, data_root: Path | None, force: bool = False,
            image_size: tuple[int, int] | None = None) -> PrepareResult:
    """Prepare dataset ``name`` (or ``imagefolder:NAME``) from ``source`` (default: download) into
    the data root. A no-op when already prepared, unless ``force``.

    Args:
        image_size: ``(H, W)`` to resize ImageFolder images to (ImageFolder only).
    """
    if image_size is not None and not all(1 <= side <= limits.MAX_IMAGE_SIDE for side in image_size):
        raise BenchmarkError(f"--image-size must be two sides of 1..{limits.MAX_IMAGE_SIDE} pixels, "
                             f"got {' '.join(map(str, image_size))}")
    prepared_name, dataset = _resolve_builder(name, image_size)
    if image_size is not None and not isinstance(dataset, ImageFolderDataset):
        raise BenchmarkError(f"--image-size applies to imagefolder:NAME only; {name} has fixed size")
    if source is not None and not source.expanduser().exists():
        raise BenchmarkError(f"--source {source} does not exist")
    root = cache.ensure_writable(resolve_data_root(data_root))
    meta = cache.read_meta(root, prepared_name)
    if meta and not force:
        return PrepareResult(prepared_name, meta.get("source", "?"), cache.dataset_dir(root, prepared_name),
                             _counts(meta), meta.get("total", {}), skipped=True)
    splits, where = _read(dataset, prepared_name, source, root)
    notes = dataset.verify(splits)
    record = {
        "kind": IMAGEFOLDER if isinstance(dataset, ImageFolderDataset) else "registered",
        "source": where,
        "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
        "notes": list(notes),
        "total": totals(splits, dataset.partition or tuple(splits)),
    }
    cache.write_prepared(root, prepared_name, splits, record)
    meta = cache.read_meta(root, prepared_name)
    return PrepareResult(prepared_name, where, cache.dataset_dir(root, prepared_name), _counts(meta),
                         meta["total"], skipped=False, notes=notes)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def format_prepare_report(result: PrepareResult) -> str:
    """Per-split counts, the total over the partition splits, and any verification note."""
    verb = "already prepared (use --force to prepare again)" if result.skipped else "prepared"
    lines = [f"{result.dataset}: {verb} from {result.source} into {result.path}"]
    for s in result.splits:
        lines.append(f"  {s.name:<18} {s.classes:>6} classes {s.images:>8} images  {_shape(s.image_shape)}")
    total = result.total
    if total:
        parts = [s for s in result.splits if s.name in total["partition"]]
        per = f" = {total['classes']} classes x {total['images_per_class']} images" if total["images_per_class"] else \
            f", {total['classes']} classes"
        if total["disjoint_classes"]:
            detail = " + ".join(f"{s.classes} {s.name}" for s in parts) + " classes"
        else:
            detail = " + ".join(f"{s.images} {s.name}" for s in parts) + " images"
        lines.append(f"  total: {total['images']} images{per} ({detail})")
    lines.extend(f"  {note}" for note in result.notes)
    return "\n".join(lines)


def _row(name: str, info_splits: tuple[str, ...], shape: tuple[int, ...], meta: dict | None,
         partition: tuple[str, ...], fallback: str,
         embedded: DatasetBuilder | None, root: Path) -> dict[str, Any]:
    """A ``dataset_rows`` row; ``embedded``: the builder whose embedded copy serves the
    dataset while it is not prepared (counted by its ``embedded_size`` where it can count
    without making the split, e.g. sequences, else on the split ``load_split`` keeps)."""
    row = {"name": name, "splits": " ".join(info_splits), "image_size": _shape(shape)}
    if meta:
        total = meta.get("total", {})
        row.update(classes=total.get("classes", "?"), images=total.get("images", "?"),
                   prepared="yes", source=meta.get("source", "?"))
    elif embedded is not None:
        sizes = [embedded.embedded_size(s) or _size(load_split(name, s, root)) for s in partition]
        row.update(classes=sum(c for c, _ in sizes), images=sum(n for _, n in sizes),
                   prepared="embedded", source="embedded copy (package)")
    else:
        row.update(classes="-", images="-", prepared="no", source=fallback)
    return row


def _size(split: Split) -> tuple[int, int]:
    return split.num_classes, len(split)


def dataset_rows(data_root: Path | None) -> list[dict[str, Any]]:
    """One row per registered dataset and per prepared ImageFolder: name, splits, classes,
    images, image_size, prepared (yes/no/embedded), source."""
    root = resolve_data_root(data_root)
    rows = []
    for entry in DATASETS.entries():
        dataset = entry.obj()
        if entry.name == IMAGEFOLDER:
            rows.append({"name": "imagefolder:NAME", "splits": "from the tree", "classes": "-", "images": "-",
                         "image_size": "-", "prepared": "-", "source": "--source DIR ([split/]class/image)"})
            continue
        copy = dataset.embedded_copy()
        rows.append(_row(entry.name, dataset.splits, dataset.image_shape, cache.read_meta(root, entry.name),
                         dataset.partition, f"download or --source {dataset.source_hint}",
                         dataset if copy is not None and copy.is_file() else None, root))
    for name in prepared_imagefolders(root):
        info = dataset_info(name, root)
        rows.append(_row(name, info.splits, info.image_shape, cache.read_meta(root, name), info.splits, "",
                         None, root))
    return rows


COLUMNS = (("name", "name"), ("prepared", "prepared"), ("classes", "classes"), ("images", "images"),
           ("image_size", "image size"), ("splits", "splits"), ("source", "from"))


#: Columns shortened (with ``…``) to fit the terminal, widest first, never below ``MIN_WIDTH``.
SHORTENED, MIN_WIDTH = ("splits", "source"), 12


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def format_table(rows: list[dict[str, Any]], width: int | None = None) -> str:
    """A plain-text table of ``dataset_rows``, at most ``width`` columns wide (default: the
    terminal's): the ``SHORTENED`` columns give way first."""
    width = width or shutil.get_terminal_size().columns
    widths = {k: max([len(h)] + [len(str(r[k])) for r in rows]) for k, h in COLUMNS}
    while (sum(widths.values()) + 2 * (len(COLUMNS) - 1) > width
           and any(widths[k] > MIN_WIDTH for k in SHORTENED)):
        widest = max(SHORTENED, key=lambda k: widths[k])
        widths[widest] -= 1
    line = lambda values: "  ".join(_fit(str(v), widths[k]).ljust(widths[k]) for (k, _), v in zip(COLUMNS, values)).rstrip()  # noqa: E731
    out = [line([h for _, h in COLUMNS]), line(["-" * widths[k] for k, _ in COLUMNS])]
    out.extend(line([r[k] for k, _ in COLUMNS]) for r in rows)
    return "\n".join(out)


def embed(data_root: Path | None, out: Path | None = None) -> tuple[Path, int]:
    """Write the embedded Omniglot file from the prepared Omniglot; returns ``(path, bytes)``."""
    path = embedded.export_prepared(resolve_data_root(data_root), out)
    return path, path.stat().st_size
