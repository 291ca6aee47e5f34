"""The evaluation grid of a spec: its cells (eval split × setting × head × compute mark) and
their episodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from benchmark.data.convert import InputConversion
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.split_names import evaluated_split

#: The episodes of a cell: (eval dataset, eval split, its input conversion, rotations as
#: classes, ways, shots).
EpisodeKey = tuple[str, str, InputConversion | None, bool, int, int]


@dataclass(frozen=True)
class Cell:
    """One evaluation cell of a label × seed: eval split (with its input conversion, if any,
    and rotations as classes or not) × (ways, shots) × head × mark (the training CPU-minutes
    of the checkpoint evaluated, ``trainer.marks``; 0: the run's final or best weights)."""

    eval_dataset: str
    eval_split: str
    ways: int
    shots: int
    head: str
    convert: InputConversion | None = None
    mark: float = 0.0
    rotations: bool = False

    @property
    def split_name(self) -> str:
        """The evaluated split's name as result rows store it (``fewshot_test→auto``,
        ``vinyals_test+rotations``)."""
        return evaluated_split(self.eval_split, self.convert.tag if self.convert else "",
                               self.rotations)


def heads_of(spec: BenchmarkSpec, label: str) -> tuple[str, ...]:
    """The heads ``label`` is evaluated with: ``eval.heads``, then its method's own ``heads``."""
    own = () if label in spec.floors else spec.method(label).heads
    return tuple(dict.fromkeys((*spec.eval.heads, *own)))


def marks_of(spec: BenchmarkSpec, label: str) -> tuple[float, ...]:
    """The marks ``label``'s rows are evaluated at: its trainer's marks, or ``(0.0,)`` (the
    final weights) for a run without marks and for a floor."""
    marks = () if label in spec.floors else spec.method(label).trainer.marks
    return marks or (0.0,)


def cells_of(spec: BenchmarkSpec, label: str | None = None) -> list[Cell]:
    """Every evaluation cell of the spec (of ``label``: with its method's own heads and at
    each of its marks), in spec order."""
    heads = spec.eval.heads if label is None else heads_of(spec, label)
    marks = (0.0,) if label is None else marks_of(spec, label)
    return [Cell(d.dataset, d.split, s.ways, s.shots, h, d.convert, m, d.rotations)
            for d in spec.eval.datasets for s in spec.eval.settings_for(d)
            for h in heads for m in marks]


def by_episodes(cells: Sequence[Cell]) -> dict[EpisodeKey, list[Cell]]:
    """Cells grouped by their episodes (split × conversion × rotations × setting), so heads
    and marks share one episode set."""
    groups: dict[EpisodeKey, list[Cell]] = {}
    for c in cells:
        groups.setdefault((c.eval_dataset, c.eval_split, c.convert, c.rotations, c.ways,
                           c.shots), []).append(c)
    return groups
