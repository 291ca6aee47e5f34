"""``benchmark datasets show NAME``: counts per split, and PNG grids of what a model sees.

Two grids, drawn from a seed: ``<name>_<split>_samples.png`` (one row per class: images of
that class, as stored) and ``<name>_<split>_<sampler>_views.png`` (one row per episode class of
a training sampler: for the ``augment`` sampler the plain image first, then its support and
query views, made exactly as training makes them); for a sequence dataset also a strip of
frames, ``<name>_<split>_frames.png`` (one sequence per row, time from left to right). Small
images are enlarged (nearest neighbour) so that a glyph's strokes can be seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid, save_image

from benchmark.spec import limits
from benchmark.data.loading import dataset_info, load_split
from benchmark.data.sequences import sequence_dataset, strip_rows
from benchmark.data.split import Split, unit_float
from benchmark.errors import BenchmarkError

#: Grids are enlarged until an image is at least this many pixels high.
MIN_SIDE = 64


@dataclass(frozen=True)
class SplitSummary:
    """One split's counts: classes, images, images per class (least and most), image shape."""

    name: str
    classes: int
    images: int
    least: int
    most: int
    image_shape: tuple[int, int, int]

    def line(self) -> str:
        """E.g. ``vinyals_test   423 classes   8460 images   20-20 per class   1x28x28``."""
        per = f"{self.least}" if self.least == self.most else f"{self.least}-{self.most}"
        return (f"{self.name:<16} {self.classes:>6} classes {self.images:>8} images "
                f"{per:>9} per class   {'x'.join(map(str, self.image_shape))}")


def summarise(split: Split) -> SplitSummary:
    """The counts of a loaded split."""
    counts = split.class_counts()
    return SplitSummary(split.name, split.num_classes, len(split), int(counts.min()),
                        int(counts.max()), split.image_shape)


def _enlarged(images: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` in [0, 1], nearest-neighbour enlarged to at least ``MIN_SIDE`` high."""
    scale = max(1, -(-MIN_SIDE // images.shape[-2]))
    return F.interpolate(images, scale_factor=scale, mode="nearest") if scale > 1 else images


def _save(rows: list[torch.Tensor], path: Path) -> Path:
    """Save equal-length rows of images (each ``[n, C, H, W]`` in [0, 1]) as one PNG grid."""
    images = _enlarged(torch.cat(rows).float())
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(images, nrow=len(rows[0]), padding=2, pad_value=0.5), path)
    return path


def sample_grid(split: Split, path: Path, classes: int = 8, per_class: int = 8,
                seed: int = 0) -> Path:
    """A PNG of ``classes`` random classes (one per row), ``per_class`` images each."""
    rng = np.random.default_rng(seed)
    counts = split.class_counts()
    eligible = torch.nonzero(counts >= 1).flatten().numpy()
    chosen = rng.choice(eligible, size=min(classes, len(eligible)), replace=False)
    rows = []
    for label in chosen:
        rows_of = torch.nonzero(split.labels == int(label)).flatten().numpy()
        picked = rng.choice(rows_of, size=min(per_class, len(rows_of)), replace=False)
        row = unit_float(split.images[torch.from_numpy(np.sort(picked))])
        if len(row) < per_class:  # a small class: pad the row with grey
            row = torch.cat([row, torch.full((per_class - len(row), *row.shape[1:]), 0.5)])
        rows.append(row)
    return _save(rows, path)


def views_grid(split: Split, path: Path, sampler: str = "augment", rows: int = 8,
               views: int = 7, seed: int = 0, options: Mapping[str, Any] | None = None) -> Path:
    """A PNG of one episode of ``sampler`` (``rows`` classes, 1 support and ``views - 1`` query
    views each, one class per row; for ``augment`` the plain image first)."""
    from benchmark.samplers import build_sampler

    made = build_sampler(sampler, split, rows, 1, max(1, views - 1), **dict(options or {}))
    episode = made.sample(seed)
    grid = []
    for i in range(episode.ways):
        row = [episode.support[episode.support_labels == i], episode.query[episode.query_labels == i]]
        if episode.kind == "augment":  # each class is one stored image: show it first
            row.insert(0, unit_float(split.images[int(episode.class_ids[i])][None]))
        grid.append(torch.cat([r.float().cpu() for r in row]))
    return _save(grid, path)


def show(name: str, out: Path, split: str | None = None, data_root: Path | None = None,
         sampler: str = "augment", classes: int = 8, per_class: int = 8, seed: int = 0,
         options: Mapping[str, Any] | None = None) -> tuple[list[SplitSummary], list[Path]]:
    """Counts of every split of dataset ``name``, and the two grids of ``split`` (default: its
    train split) written into ``out``.

    Raises:
        BenchmarkError: unknown dataset, split or sampler; counts out of range.
    """
    for what, value in (("classes", classes), ("images per class", per_class)):
        if not 1 <= value <= limits.MAX_WAYS:
            raise BenchmarkError(f"datasets show: {what} must be in 1..{limits.MAX_WAYS}, got {value}")
    info = dataset_info(name, data_root)
    chosen = split or info.train_split
    if chosen not in info.splits:
        raise BenchmarkError(f"dataset {name!r} has no split {chosen!r} (splits: {', '.join(info.splits)})")
    from benchmark.samplers import SAMPLERS

    SAMPLERS.get(sampler)
    summaries = [summarise(load_split(name, s, data_root)) for s in info.splits]
    data = load_split(name, chosen, data_root)
    stem = f"{info.name}_{chosen}"
    views = views_grid(data, Path(out) / f"{stem}_{sampler}_views.png", sampler, classes,
                       per_class, seed, options)  # first: a sampler that refuses writes nothing
    grids = [sample_grid(data, Path(out) / f"{stem}_samples.png", classes, per_class, seed), views]
    if sequence_dataset(info.name) is not None:  # a strip of frames: one sequence per row
        grids.append(_save(strip_rows(data, classes, seed), Path(out) / f"{stem}_frames.png"))
    return summaries, grids
