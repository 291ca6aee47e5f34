"""The sampling core shared by every episode source: validation, per-seed random draws, base class.

Every random number of an episode is a counter-based draw keyed by the episode's seed
(SplitMix64: uniform ``i`` of seed ``s`` is ``mix(mix(s) + (i+1)·γ)``), never the global RNG.
So an episode is a pure function of its seed on any machine and device, and the draws of a
whole batch of seeds are a few vectorised numpy operations: the draws are made on the CPU,
the work on the device.
"""

from __future__ import annotations

import functools
import inspect
import operator
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from benchmark.data.split import Split
from benchmark.episodes.batch import EpisodeBatch
from benchmark.episodes.episode import Episode, EpisodeKind, EpisodeSource
from benchmark.errors import BenchmarkError, refuse_unknown
from benchmark.registry import Registry

#: Episode sources by kind: ``labels``, ``augment``, ``patches``. Each entry is a class
#: called as ``cls(split, ways, shots, queries, device, **options)``.
SAMPLERS: Registry[type] = Registry("sampler")

MAX_SEED = 2**63 - 1


def check_counts(ways: int, shots: int, queries: int) -> None:
    """Refuse N, K or Q that are not integers ≥ 1."""
    for name, value in (("ways (N)", ways), ("shots (K)", shots), ("queries (Q)", queries)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchmarkError(f"{name} must be an integer >= 1, got {value!r}")


def check_split(split: Split) -> None:
    """Refuse an empty split."""
    if len(split) == 0 or split.num_classes == 0:
        raise BenchmarkError(f"split {split.dataset}/{split.name} is empty")


def check_seed(seed: Any) -> int:
    """The seed as an ``int`` in ``0..2**63-1``; a BenchmarkError for anything else."""
    if isinstance(seed, bool):
        raise BenchmarkError(f"episode seed must be an integer, got {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError:
        raise BenchmarkError(f"episode seed must be an integer, got {seed!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise BenchmarkError(f"episode seed must be in 0..2**63-1, got {value}")
    return value


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``; a BenchmarkError when it is unknown or unavailable."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise BenchmarkError(f"unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchmarkError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise BenchmarkError(f"device {device!r} requested but MPS is not available")
    return dev


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


class Sampler(ABC):
    """Base of the episode sources: validates N/K/Q and seeds; subclasses implement ``_draw``.

    ``sample(s) == sample_batch([s])[0] == sample_stacked([s]).episode(0)``.
    """

    kind: ClassVar[EpisodeKind]

    def __init__(self, ways: int, shots: int, queries: int, device: str | torch.device) -> None:
        check_counts(ways, shots, queries)
        self.ways, self.shots, self.queries = ways, shots, queries
        self.device = resolve_device(device)
        self._label_rows: dict[int, torch.Tensor] = {}

    def sample(self, seed: int) -> Episode:
        """One episode, a pure function of ``seed``."""
        return self.sample_stacked([seed]).episode(0)

    def sample_batch(self, seeds: Sequence[int]) -> list[Episode]:
        """One episode per seed, drawn in one vectorised pass."""
        if len(seeds) == 0:
            return []
        return self.sample_stacked(seeds).unbind()

    def sample_stacked(self, seeds: Sequence[int]) -> EpisodeBatch:
        """One episode per seed, stacked: tensors ``[len(seeds), ...]``."""
        checked = [check_seed(s) for s in seeds]
        if not checked:
            raise BenchmarkError("sample_stacked needs at least one seed")
        return self._draw(checked)

    @abstractmethod
    def _draw(self, seeds: list[int]) -> EpisodeBatch:
        """The batch for already-checked seeds."""

    def labels(self, count: int, per_class: int) -> torch.Tensor:
        """``[count, N*per_class]`` labels ``0..N-1`` repeated class-major, on the device."""
        if per_class not in self._label_rows:
            self._label_rows[per_class] = torch.arange(self.ways, device=self.device).repeat_interleave(per_class)
        return self._label_rows[per_class].expand(count, -1).clone()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kind={self.kind!r}, ways={self.ways}, "
                f"shots={self.shots}, queries={self.queries}, device={str(self.device)!r})")


def build_sampler(
    kind: str,
    split: Split,
    ways: int,
    shots: int,
    queries: int,
    device: str | torch.device = "cpu",
    **options: Any,
) -> EpisodeSource:
    """The registered episode source ``kind`` over ``split``.

    Options are those of the sampler's class (``labels``: ``rotations``; ``augment``:
    ``augment``; ``patches``: ``patch_size``, ``jitter``, ``size``). Every bad input
    (unknown kind or option, impossible N/K/Q, empty split) raises BenchmarkError here.
    """
    cls = SAMPLERS.get(kind)
    accepted = [p for p in inspect.signature(cls).parameters
                if p not in ("split", "ways", "shots", "queries", "device")]
    refuse_unknown(f"{kind} sampler", "option", options, accepted)
    return cls(split=split, ways=ways, shots=shots, queries=queries, device=device, **options)
