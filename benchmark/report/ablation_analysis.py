"""An ablation's numbers: grid points × method series × evaluation cells, with paired tests.

A cell entry is one (series, point, evaluation cell). With one seed it is the stored row (mean
± 95% CI over episodes); with several seeds it is the mean over the seeds' means ± the Student-t
interval over those seed means. In each (series, cell) every point is tested against the best
point with the paired Wilcoxon signed-rank test on the shared episodes (seed ``s`` against seed
``s``, episodes concatenated over the shared seeds), Holm-corrected across the points; an
adjusted p ≥ 0.05 is a tie with the best.

The random-init floor (method label ``random`` or ``random-<backbone>``) is either stored once
under the benchmark named as the ablation (``floor_once``: one reference entry per cell), or
within each point's rows (``floor_points``: one entry per point and cell, never tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.report import stats
from benchmark.report.tables import Column
from benchmark.store import FLOOR, ResultRow, Store

#: Adjusted p at or above which a point ties with the best.
ALPHA = 0.05
#: The series name when every point has its own single method label (a sweep over ``method``).
METHOD_SERIES = "method"


@dataclass(frozen=True)
class Point:
    """One grid point: its plain name, grid position and swept path → value pairs."""

    name: str
    position: int
    values: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Entry:
    """One (series, point, cell): mean and 95% CI (fractions), seeds and per-seed episodes.

    ``best``/``tie``/``p_adj`` are set by the paired tests (``p_adj`` is None for the best, for
    the floor and where no episodes are shared).
    """

    point: str
    mean: float
    ci95: float
    seeds: int
    episodes: dict[int, np.ndarray]
    best: bool = False
    tie: bool = False
    p_adj: float | None = None


@dataclass(frozen=True)
class Ablation:
    """Everything the report shows, built by ``analyse``.

    Attributes:
        kind: ``one`` (one swept parameter), ``two`` (two crossed: heat maps) or ``variants``.
        params: the swept paths (``one``/``two``), empty for variants.
        series: series name → cell → entries in grid order (None where a point lacks the cell).
        floor_label: the floor's method label(s), "" when no floor is stored.
        floor_once: cell → the floor's entry, when stored once for the ablation.
        floor_points: cell → the floor's entry per point, when stored within the points.
        rows: every result row behind the report (provenance, budget).
    """

    name: str
    question: str
    kind: str
    params: tuple[str, ...]
    points: tuple[Point, ...]
    columns: tuple[Column, ...]
    series: dict[str, dict[Column, tuple[Entry | None, ...]]]
    floor_label: str
    floor_once: dict[Column, Entry]
    floor_points: dict[Column, tuple[Entry | None, ...]]
    rows: tuple[ResultRow, ...]

    @property
    def max_seeds(self) -> int:
        """The most seeds behind any entry (> 1: CIs are over seed means)."""
        return max((e.seeds for cells in self.series.values() for es in cells.values()
                    for e in es if e is not None), default=1)

    def param_name(self, path: str) -> str:
        """The last part of a dotted path: ``methods[0].params.temperature`` → ``temperature``."""
        return path.rsplit(".", 1)[-1]

    def numeric(self) -> bool:
        """Whether every swept value of a one-parameter sweep is a number (a numeric x axis)."""
        return self.kind == "one" and all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for p in self.points for _, v in p.values)


def value_text(value: Any) -> str:
    """A swept value as given in the file: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def is_floor(method: str) -> bool:
    """Whether a method label is the random-init floor's."""
    return method == FLOOR or method.startswith(FLOOR + "-")


def _column(row: ResultRow) -> Column:
    return Column(row.eval_dataset, row.eval_split, row.ways, row.shots, row.head)


def _entry(point: str, rows: Sequence[ResultRow]) -> Entry:
    """Aggregate one cell's rows (one per seed) into an entry."""
    seeds = [r.seed for r in rows]
    if len(set(seeds)) != len(seeds):
        raise BenchmarkError(f"point {point}: several rows of one method, cell and seed "
                             f"({rows[0].method}, {_column(rows[0]).title(True)}); report "
                             "them from separate ablations")
    episodes = {r.seed: np.asarray(r.episode_accuracies, dtype=np.float64) for r in rows}
    if len(rows) == 1:
        return Entry(point, rows[0].accuracy, rows[0].ci95, 1, episodes)
    mean, ci = stats.mean_ci95([r.accuracy for r in rows])
    return Entry(point, mean, ci, len(rows), episodes)


def paired_p(first: Entry, second: Entry) -> float | None:
    """Wilcoxon p of two entries on their shared seeds' episodes, or None if none are shared."""
    shared = sorted(set(first.episodes) & set(second.episodes))
    pairs = [(first.episodes[s], second.episodes[s]) for s in shared]
    if not pairs or any(a.size == 0 or a.shape != b.shape for a, b in pairs):
        return None
    return stats.wilcoxon_p(np.concatenate([a for a, _ in pairs]),
                            np.concatenate([b for _, b in pairs]))


def _tested(entries: Sequence[Entry | None]) -> tuple[Entry | None, ...]:
    """Mark the best entry, Holm-adjust the paired tests of the others against it, mark ties."""
    present = [e for e in entries if e is not None]
    if not present:
        return tuple(entries)
    best = max(present, key=lambda e: e.mean)  # the first in grid order on equal means
    raw = {e.point: paired_p(best, e) for e in present if e is not best}
    tested = [name for name, p in raw.items() if p is not None]
    adjusted = dict(zip(tested, stats.holm([raw[n] for n in tested])))
    out: list[Entry | None] = []
    for e in entries:
        if e is None or e is best:
            out.append(e if e is None else replace(e, best=True))
            continue
        p = adjusted.get(e.point)
        out.append(replace(e, p_adj=p, tie=p is not None and p >= ALPHA))
    return tuple(out)


def _kind(points: Sequence[Point]) -> tuple[str, tuple[str, ...]]:
    """``one`` / ``two`` (a full cross of two paths) / ``variants``, and the swept paths."""
    keys = {tuple(path for path, _ in p.values) for p in points}
    if len(keys) == 1:
        paths = next(iter(keys))
        if len(paths) == 1:
            return "one", paths
        if len(paths) == 2:
            distinct = [{json.dumps(dict(p.values)[k]) for p in points} for k in paths]
            if len(distinct[0]) * len(distinct[1]) == len(points) and min(map(len, distinct)) > 1:
                return "two", paths
    return "variants", ()


def _series_of(method: str, labels_per_point: dict[str, set[str]]) -> str:
    """The series a method label belongs to (one series when each point has its own label)."""
    if all(len(labels) == 1 for labels in labels_per_point.values()) and \
            len(set().union(*labels_per_point.values())) > 1:
        return METHOD_SERIES
    return method


def analyse(store: Store, ablation: str) -> Ablation:
    """Read an ablation's points and rows from the store and run its paired tests.

    Raises:
        BenchmarkError: the ablation has no stored points, or its points have no result rows.
    """
    stored = store.ablation_points(ablation)
    if not stored:
        known = ", ".join(store.ablations()) or "none"
        raise BenchmarkError(f"no ablation {ablation!r} in store {store.path} "
                             f"(ablations: {known})")
    points = tuple(Point(p.point, p.position, tuple(json.loads(p.swept).items()))
                   for p in stored)
    rows_of = {p.point: [r for r in store.current_results(p.benchmark, with_episodes=True)]
               for p in stored}
    once = [r for r in store.current_results(ablation, with_episodes=True) if is_floor(r.method)] \
        if ablation not in {p.benchmark for p in stored} else []
    if not any(rows_of.values()):
        raise BenchmarkError(f"ablation {ablation!r}: no result rows under its points' "
                             f"benchmarks ({', '.join(p.benchmark for p in stored)}); run it first")
    labels = {name: {r.method for r in rows if not is_floor(r.method)}
              for name, rows in rows_of.items() if rows}
    groups: dict[tuple[str, Column, str], list[ResultRow]] = {}
    floor_groups: dict[tuple[Column, str], list[ResultRow]] = {}
    for name, rows in rows_of.items():
        for row in rows:
            if is_floor(row.method):
                floor_groups.setdefault((_column(row), name), []).append(row)
            else:
                groups.setdefault((_series_of(row.method, labels), _column(row), name),
                                  []).append(row)
    floor_rows = once + [r for rs in floor_groups.values() for r in rs]
    columns = tuple(sorted({c for _, c, _ in groups} | {c for c, _ in floor_groups}
                           | {_column(r) for r in once},
                           key=lambda c: (c.eval_dataset, c.eval_split, c.ways, c.shots, c.head)))
    series_names = sorted({s for s, _, _ in groups})
    series = {s: {c: _tested([_entry(p.name, groups[(s, c, p.name)])
                              if (s, c, p.name) in groups else None for p in points])
                  for c in columns if any((s, c, p.name) in groups for p in points)}
              for s in series_names}
    floor_once: dict[Column, Entry] = {}
    for column in {_column(r) for r in once}:
        floor_once[column] = _entry(ablation, [r for r in once if _column(r) == column])
    floor_points = {c: tuple(_entry(p.name, floor_groups[(c, p.name)])
                             if (c, p.name) in floor_groups else None for p in points)
                    for c in columns if any((c, p.name) in floor_groups for p in points)}
    kind, params = _kind(points)
    return Ablation(
        name=ablation, question=stored[0].question, kind=kind, params=params, points=points,
        columns=columns, series=series,
        floor_label=", ".join(sorted({r.method for r in floor_rows})),
        floor_once=floor_once, floor_points=floor_points,
        rows=tuple(r for rs in rows_of.values() for r in rs) + tuple(once))

