"""Planning against the store: what it already holds → the work left, and retiring the run
folders of a changed configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.runner.cells import Cell, cells_of
from benchmark.specs import BenchmarkSpec
from benchmark.store import Store


@dataclass(frozen=True)
class Work:
    """A label × seed with work left: the cells to evaluate, and whether its stored training
    run (``stale_hash``) came from another configuration of the method."""

    label: str
    seed: int
    cells: tuple[Cell, ...]
    stale_hash: str | None = None


def _row_key(spec: BenchmarkSpec, label: str, seed: int, cell: Cell) -> tuple:
    return (spec.name, label, spec.train.dataset, spec.train_split_of(label), cell.eval_dataset,
            cell.split_name, cell.ways, cell.shots, spec.eval.queries, cell.head, seed)


def plan(spec: BenchmarkSpec, store: Store) -> list[Work]:
    """Every label × seed with work left: a training run not done or made from another
    configuration, or cells whose rows are missing or from another configuration."""
    found = (work_left(spec, store, label, seed) for label in spec.labels for seed in spec.seeds)
    return [work for work in found if work is not None]


def work_left(spec: BenchmarkSpec, store: Store, label: str, seed: int) -> Work | None:
    """The work left for one label × seed as the store stands now, or None when it is done."""
    expected = spec.job_hash(label)
    run = store.get_run(spec.name, label, seed)
    stale = run.spec_hash if run is not None and run.spec_hash != expected else None
    stored = store.result_hashes(spec.name, label, seed)
    missing = tuple(c for c in cells_of(spec, label)
                    if stored.get(_row_key(spec, label, seed, c)) != expected)
    trained = label in spec.floors or (run is not None and run.status == "done")
    if missing or not trained or stale:
        return Work(label, seed, tuple(cells_of(spec, label)) if stale else missing, stale)
    return None


def retire(folder: Path, old_hash: str) -> Path | None:
    """Move a run folder of another configuration aside (kept, never deleted); returns where
    it went, or None when there was none."""
    if not folder.exists():
        return None
    target = folder.with_name(f"{folder.name}.stale-{old_hash}")
    suffix = 0
    while target.exists():
        suffix += 1
        target = folder.with_name(f"{folder.name}.stale-{old_hash}-{suffix}")
    folder.rename(target)
    return target
