"""The evaluation grid of a spec: its cells (eval split × setting × head) and their episodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from benchmark.data.convert import InputConversion
from benchmark.spec.benchmark_spec import BenchmarkSpec

#: The episodes of a cell: (eval dataset, eval split, its input conversion, ways, shots).
EpisodeKey = tuple[str, str, InputConversion | None, int, int]


@dataclass(frozen=True)
class Cell:
    """One evaluation cell of a label × seed: eval split (with its input conversion, if any)
    × (ways, shots) × head."""

    eval_dataset: str
    eval_split: str
    ways: int
    shots: int
    head: str
    convert: InputConversion | None = None

    @property
    def split_name(self) -> str:
        """The evaluated split's name as result rows store it (``fewshot_test→auto``)."""
        return self.eval_split if self.convert is None else self.convert.split_name(self.eval_split)


def heads_of(spec: BenchmarkSpec, label: str) -> tuple[str, ...]:
    """The heads ``label`` is evaluated with: ``eval.heads``, then its method's own ``heads``."""
    own = () if label in spec.floors else spec.method(label).heads
    return tuple(dict.fromkeys((*spec.eval.heads, *own)))


def cells_of(spec: BenchmarkSpec, label: str | None = None) -> list[Cell]:
    """Every evaluation cell of the spec (of ``label``: with its method's own heads), in spec
    order."""
    heads = spec.eval.heads if label is None else heads_of(spec, label)
    return [Cell(d.dataset, d.split, s.ways, s.shots, h, d.convert)
            for d in spec.eval.datasets for s in spec.eval.settings_for(d)
            for h in heads]


def by_episodes(cells: Sequence[Cell]) -> dict[EpisodeKey, list[str]]:
    """Cells grouped by their episodes (split × conversion × setting), so heads share one
    episode set."""
    groups: dict[EpisodeKey, list[str]] = {}
    for c in cells:
        groups.setdefault((c.eval_dataset, c.eval_split, c.convert, c.ways, c.shots),
                          []).append(c.head)
    return groups
