"""Counter-based random draws keyed by an episode's seed (SplitMix64), never the global RNG.

Uniform ``i`` of seed ``s`` is ``mix(mix(s) + (i+1)·γ)``: an episode is a pure function of its
seed on any machine and device, and the draws of a whole batch of seeds are a few vectorised
numpy operations (made on the CPU; the work they decide is done on the device).
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment γ
_MIX = (np.uint64(30), np.uint64(0xBF58476D1CE4E5B9), np.uint64(27), np.uint64(0x94D049BB133111EB),
        np.uint64(31))


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, elementwise on ``uint64`` (wrapping arithmetic)."""
    a, m1, b, m2, c = _MIX
    z = (z ^ (z >> a)) * m1
    z = (z ^ (z >> b)) * m2
    return z ^ (z >> c)


@functools.lru_cache(maxsize=64)
def _counters(count: int) -> np.ndarray:
    """``(j+1)·γ`` for ``j < count``: the offsets of a seed's SplitMix64 states."""
    return np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN


def uniforms(seeds: Sequence[int], count: int) -> np.ndarray:
    """``[len(seeds), count]`` float64 uniforms in ``[0, 1)``: row ``i`` depends only on ``seeds[i]``.

    Uniform ``j`` of seed ``s`` is the top 53 bits of SplitMix64's ``j``-th output for the
    state ``mix(s)``: a counter-based generator, so a batch of seeds is drawn at once.
    """
    keys = _mix64(np.asarray(seeds, dtype=np.uint64))
    bits = _mix64(keys[:, None] + _counters(count)[None, :]) >> np.uint64(11)
    return bits.astype(np.float64) * 2.0**-53


#: uniforms ``choose_distinct`` takes per value it chooses
DISTINCT_UNIFORMS = 3


def choose_distinct(u: np.ndarray, population: int | np.ndarray) -> np.ndarray:
    """Per row, ``n`` distinct values of ``0..population-1``, uniformly, in uniform random order.

    The first ``n`` uniforms make ``n`` independent picks; where they are distinct (most rows
    when ``n² ≪ population``) they are a uniformly random ordered tuple of distinct values.
    Rows with a repeated pick are drawn afresh from their other ``2n`` uniforms by Floyd's
    algorithm (``_floyd``), in plain Python on a few small ints. Every ordered tuple thus
    has probability ``(population - n)! / population!``.

    Args:
        u: ``[B, DISTINCT_UNIFORMS * n]`` float64 uniforms.
        population: one size for every row, or ``[B]`` sizes (each ``>= n``).

    Returns:
        ``[B, n]`` int64.
    """
    n = u.shape[1] // DISTINCT_UNIFORMS
    sizes = np.asarray(population, dtype=np.int64).reshape(-1, 1)  # [B or 1, 1]
    picks = np.minimum((u[:, :n] * sizes).astype(np.int64), sizes - 1)
    ordered = np.sort(picks, axis=1)
    for row in np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(1)).tolist():
        picks[row] = _floyd(u[row, n:].tolist(), int(sizes[row % len(sizes), 0]))
    return picks


def _floyd(u: list[float], population: int) -> list[int]:
    """``n`` distinct values of ``0..population-1`` in random order, from ``2n`` uniforms.

    Robert Floyd's algorithm: step ``i`` picks uniformly in ``0..top`` (``top = population
    - n + i``) and takes ``top`` instead when the pick was taken before; the last ``n``
    uniforms then put the set in random order.
    """
    n = len(u) // 2
    taken: set[int] = set()
    chosen = []
    for pick_u, top in zip(u[:n], range(population - n, population)):
        pick = min(int(pick_u * (top + 1)), top)
        if pick in taken:
            pick = top
        taken.add(pick)
        chosen.append(pick)
    return [chosen[i] for i in sorted(range(n), key=u[n:].__getitem__)]
