"""Moving sequences made from still images, in the manner of Moving MNIST (Srivastava et al. 2015).

``moving_sequences(split, motion)`` turns any image split into a split of sequences: each
sequence is one drawing of the source moving on a dark canvas over ``motion.frames`` frames,
with a constant velocity that bounces off the canvas edges, a steady rotation and a linear
scale drift (and, with ``motion.crossing``, a second drawing of another class, at the first
one's scale, whose path crosses the first one's at the middle frame; the two are composed by
their maximum).

The result is an ordinary ``Split`` with a frame axis: class ``s`` is sequence ``s`` and its
``frames`` images, stored in time order, are rows ``s * frames .. s * frames + frames - 1``.
Every class name is ``<source class>#<source row>@<recipe>``, where the recipe hash covers the
source split's fingerprint and every motion parameter, so the sequences' fingerprint
(``Split.fingerprint``) says which images and which motion made them.

Everything is a pure function of ``motion.seed``: numpy's PCG64 uniforms, exactly rounded
float64 and float32 arithmetic, and the results of ``sin``/``cos`` rounded to multiples of 2^-30,
so that every machine (whatever its maths library) computes the same frames to the bit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from benchmark.data.split import Split
from benchmark.errors import BenchmarkError

#: Sequences rendered per chunk (bounds the float64 work arrays to a few tens of MiB).
CHUNK = 128
_QUANTUM = 2.0 ** 30


@dataclass(frozen=True)
class Motion:
    """How the drawings move: every sequence draws its own values in these ranges.

    Attributes:
        frames: frames per sequence (T >= 2).
        canvas: side of the square canvas, pixels.
        scale: range of the drawing's side as a fraction of its source side; each sequence
            draws a start and an end scale in it and drifts linearly between them.
        speed: range of the speed of the drawing's centre, pixels per frame (a uniform
            direction; the centre bounces off the edges of the room the drawing has).
        tilt: largest initial rotation, degrees.
        spin: largest rotation speed, degrees per frame.
        crossing: a second drawing (of another source class) crosses the first at the middle frame.
        per_class: sequences per source class (distinct drawings of it, chosen by the seed;
            all of a smaller class's drawings).
        seed: the seed of every draw.
    """

    frames: int = 20
    canvas: int = 28
    scale: tuple[float, float] = (0.55, 0.8)
    speed: tuple[float, float] = (0.4, 1.2)
    tilt: float = 15.0
    spin: float = 3.0
    crossing: bool = False
    per_class: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("frames", "canvas", "per_class", "seed"):
            value = getattr(self, name)
            least = {"frames": 2, "canvas": 1, "per_class": 1, "seed": 0}[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise BenchmarkError(f"motion: {name} must be an integer >= {least}, got {value!r}")
        for name in ("scale", "speed"):
            low, high = getattr(self, name)
            if not (0 <= low <= high and np.isfinite(high)) or (name == "scale" and low <= 0):
                raise BenchmarkError(f"motion: {name} must be a range 0 < low <= high, got {(low, high)}")
        for name in ("tilt", "spin"):
            if not 0 <= getattr(self, name) < 360:
                raise BenchmarkError(f"motion: {name} must be in [0, 360) degrees, got {getattr(self, name)}")

    def recipe(self, source: Split) -> str:
        """12 hex digits of sha256 over the source split's fingerprint and these parameters."""
        record = {"source": [source.dataset, source.name, source.fingerprint], **asdict(self)}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Paths:
    """Where each drawing is in each frame (canvas pixels, centre of the top-left pixel at 0.5).

    Attributes:
        centre: ``[S, T, 2]`` float64, the drawing's centre ``(x, y)``.
        angle: ``[S, T]`` rotation, radians (counter-clockwise on the screen's y-down axes: a
            point right of the centre turns towards the top).
        scale: ``[S, T]`` the drawing's side over its source side.
    """

    centre: np.ndarray
    angle: np.ndarray
    scale: np.ndarray

    def __getitem__(self, sequences: slice) -> "Paths":
        """The paths of some of the sequences."""
        return Paths(self.centre[sequences], self.angle[sequences], self.scale[sequences])


def _quantised(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to a multiple of 2^-30 (hides last-bit differences of ``sin``/``cos``)."""
    return np.round(x * _QUANTUM) / _QUANTUM


def _reflect(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``x`` folded into ``[low, high]`` as a ball bouncing between two walls."""
    room = high - low
    folded = np.mod(x - low, np.where(room > 0, 2 * room, 1.0))
    return low + np.where(room > 0, room - np.abs(room - folded), 0.0)


def _path(u: np.ndarray, motion: Motion, side: int, frames: int,
          through: np.ndarray | None = None) -> Paths:
    """The paths of drawings from their uniforms ``u [S, 7]`` (start x, start y, direction,
    speed, start scale, end scale, tilt; spin is column 7); ``through [S, 2]``: a point the
    path must pass at the middle frame (the start columns are then unused)."""
    t = np.arange(frames, dtype=np.float64)
    low_s, high_s = motion.scale
    s0, s1 = low_s + (high_s - low_s) * u[:, 4], low_s + (high_s - low_s) * u[:, 5]
    scale = s0[:, None] + (s1 - s0)[:, None] * (t / (frames - 1))[None, :]
    half = side * np.maximum(s0, s1) / 2  # the drawing stays inside the canvas at its largest
    low, high = half, motion.canvas - half
    direction = 2 * np.pi * u[:, 2]
    speed = motion.speed[0] + (motion.speed[1] - motion.speed[0]) * u[:, 3]
    velocity = speed[:, None] * _quantised(np.stack([np.cos(direction), np.sin(direction)], 1))
    if through is None:
        start = low[:, None] + (high - low)[:, None] * u[:, :2]
    else:
        start = through - velocity * ((frames - 1) // 2)
    centre = _reflect(start[:, None, :] + velocity[:, None, :] * t[None, :, None],
                      low[:, None, None], high[:, None, None])
    tilt = np.deg2rad(motion.tilt) * (2 * u[:, 6] - 1)
    spin = np.deg2rad(motion.spin) * (2 * u[:, 7] - 1)
    return Paths(centre, tilt[:, None] + spin[:, None] * t[None, :], scale)


def _render(sources: np.ndarray, paths: Paths, canvas: int) -> np.ndarray:
    """Frames ``[S, T, C, canvas, canvas]`` float32 of sources ``[S, C, H, W]`` moved along
    ``paths``: bilinear, zero outside the drawing (coordinates in float64, weights and pixel
    values in float32: each an exactly rounded operation, so the same on every machine)."""
    s, c, h, w = sources.shape
    frames = paths.scale.shape[1]
    padded = np.zeros((s, c, h + 2, w + 2), dtype=np.float32)
    padded[:, :, 1:-1, 1:-1] = sources
    flat = padded.reshape(s, c, -1)
    grid = np.arange(canvas, dtype=np.float64) + 0.5
    px, py = grid[None, None, None, :], grid[None, None, :, None]  # [1, 1, 1, X], [1, 1, Y, 1]
    cos = _quantised(np.cos(paths.angle))[:, :, None, None]
    sin = _quantised(np.sin(paths.angle))[:, :, None, None]
    dx = (px - paths.centre[:, :, 0, None, None]) / paths.scale[:, :, None, None]
    dy = (py - paths.centre[:, :, 1, None, None]) / paths.scale[:, :, None, None]
    # inverse of the rotation by -angle on y-down axes (counter-clockwise on the screen)
    sx = w / 2 + cos * dx - sin * dy - 0.5
    sy = h / 2 + sin * dx + cos * dy - 0.5
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = (sx - x0).astype(np.float32), (sy - y0).astype(np.float32)
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    columns = [np.clip(x0 + o, -1, w) + 1 for o in (0, 1)]  # padded columns, outside → the zero border
    rows = [(np.clip(y0 + o, -1, h) + 1) * (w + 2) for o in (0, 1)]
    out = np.empty((s, frames, c, canvas, canvas), dtype=np.float32)
    for channel in range(c):
        image = flat[:, channel:channel + 1]

        def at(row: np.ndarray, column: np.ndarray) -> np.ndarray:
            return np.take_along_axis(image, (row + column).reshape(s, 1, -1), 2).reshape(fx.shape)

        top = at(rows[0], columns[0]) * (1 - fx) + at(rows[0], columns[1]) * fx
        bottom = at(rows[1], columns[0]) * (1 - fx) + at(rows[1], columns[1]) * fx
        out[:, :, channel] = top * (1 - fy) + bottom * fy
    return out


def motion_paths(count: int, motion: Motion, side: int) -> tuple[Paths, Paths | None, np.ndarray]:
    """The paths of ``count`` sequences of drawings of side ``side``: the first drawing's,
    the crossing one's (None without ``motion.crossing``) and ``[count]`` uniforms that pick
    each crossing drawing."""
    if side * motion.scale[1] > motion.canvas:
        raise BenchmarkError(f"motion: drawings of {side} pixels at scale {motion.scale[1]} do not fit "
                             f"on a {motion.canvas}-pixel canvas")
    u = np.random.default_rng(motion.seed).random((count, 17))
    first = _path(u[:, :8], motion, side, motion.frames)
    if not motion.crossing:
        return first, None, u[:, 16]
    middle = first.centre[:, (motion.frames - 1) // 2]
    crossing = u[:, 8:16].copy()
    crossing[:, 4:6] = u[:, 4:6]  # the first drawing's scales: the same room, so the paths meet
    return first, _path(crossing, motion, side, motion.frames, through=middle), u[:, 16]


def sequence_count(class_counts: Sequence[int] | np.ndarray, motion: Motion) -> int:
    """How many sequences ``moving_sequences`` makes of a source split with these images per
    class (``per_class`` of each class, all of a smaller one), without drawing a frame."""
    return int(np.minimum(np.asarray(class_counts, dtype=np.int64), motion.per_class).sum())


def _chosen_rows(source: Split, motion: Motion) -> np.ndarray:
    """The source rows the sequences are made from: ``per_class`` drawings of each class
    (all of a smaller one), in the source's row order, picked by the seed."""
    keys = np.random.default_rng([motion.seed, 1]).random(len(source))
    labels = source.labels.numpy()
    order = np.lexsort((keys, labels))  # by class, then by key
    starts = np.searchsorted(labels[order], np.arange(source.num_classes))
    rank = np.arange(len(order)) - starts[labels[order]]
    return np.sort(order[rank < motion.per_class])


def _partners(labels: np.ndarray, pick: np.ndarray, source: Split) -> np.ndarray:
    """Per sequence, the index (into the sequences) of one of another class, picked by ``pick``."""
    order = np.argsort(labels, kind="stable")
    classes, first, counts = np.unique(labels[order], return_index=True, return_counts=True)
    if len(classes) < 2:
        raise BenchmarkError(f"motion: crossing needs drawings of two classes, "
                             f"{source.dataset}/{source.name} has one")
    block = np.searchsorted(classes, labels)
    others = len(labels) - counts[block]
    index = np.minimum((pick * others).astype(np.int64), others - 1)
    return order[np.where(index < first[block], index, index + counts[block])]


def moving_sequences(source: Split, motion: Motion, dataset: str | None = None) -> Split:
    """Sequences of ``motion.frames`` frames made from the images of ``source``.

    Args:
        source: any image split (``uint8 [N, C, H, W]``, square images).
        motion: the motion parameters and seed.
        dataset: the name of the result's dataset (default: ``moving_<source dataset>``).

    Returns:
        A split with one class per sequence, its frames in time order: images
        ``uint8 [S * T, C, canvas, canvas]``, labels ``arange(S).repeat_interleave(T)``.
    """
    channels, height, width = source.image_shape
    if height != width:
        raise BenchmarkError(f"moving sequences need square images, {source.dataset}/{source.name} "
                             f"has {height}x{width}")
    if len(source) == 0:
        raise BenchmarkError(f"split {source.dataset}/{source.name} is empty")
    rows = _chosen_rows(source, motion)
    count, frames = len(rows), motion.frames
    first, second, pick = motion_paths(count, motion, width)
    labels = source.labels.numpy()[rows]
    partner = _partners(labels, pick, source) if second is not None else None
    side = motion.canvas
    images = np.empty((count * frames, channels, side, side), dtype=np.uint8)
    for start in range(0, count, CHUNK):
        part = slice(start, min(start + CHUNK, count))
        made = _render(source.images[rows[part]].numpy(), first[part], side)
        if second is not None and partner is not None:
            made = np.maximum(made, _render(source.images[rows[partner[part]]].numpy(), second[part], side))
        block = np.clip(np.floor(made + np.float32(0.5)), 0, 255).astype(np.uint8)
        images[start * frames: part.stop * frames] = block.reshape(-1, channels, side, side)
    recipe = motion.recipe(source)
    names = tuple(f"{source.class_names[label]}#{row}@{recipe}" for label, row in zip(labels, rows))
    return Split(dataset or f"moving_{source.dataset}", source.name, torch.from_numpy(images),
                 torch.arange(count).repeat_interleave(frames), names)
