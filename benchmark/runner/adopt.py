"""Reuse another benchmark's finished jobs under a spec's own name (the spec's ``reuse:``).

A job of spec ``S`` (label × seed) is the same job as one of benchmark ``B`` when its job
hash, computed as if ``S`` were named ``B``, is the hash ``B``'s run and rows carry: same train
data, resolved method, trainer and evaluation protocol. Such a job, finished in ``B`` (its run
done, a row for every cell ``S`` asks of the label), is copied under ``S``'s name and hash,
its run record pointing at ``B``'s checkpoint (its validation curve copied with it), so ``S`` neither trains it again nor renders
over ``B``'s tables. A job with a cell ``B`` lacks is trained under ``S``'s name.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from benchmark.runner.cells import cells_of
from benchmark.runner.planning import _row_key, work_left
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.store import ResultRow, Store, is_current

log = logging.getLogger("benchmark.runner.progress")


def adopt(spec: BenchmarkSpec, store: Store, say: bool = True) -> list[tuple[str, int, str]]:
    """Copy into ``store`` under ``spec.name`` every job of ``spec`` left to do that a
    benchmark of ``spec.reuse`` finished with the same configuration (each said in a progress
    line, unless not ``say``); returns the jobs copied as (label, seed, benchmark copied from)."""
    copied: list[tuple[str, int, str]] = []
    for source in spec.reuse:
        if source == spec.name:
            continue
        other = replace(spec, name=source)
        runs = {(r.benchmark, r.method, r.seed): r for r in store.runs(source)}
        rows = [r for r in store.results(source, with_episodes=True) if is_current(r, runs)]
        curves = {(c.method, c.seed): c for c in store.curves(source)}
        for label in spec.labels:
            for seed in spec.seeds:
                if work_left(spec, store, label, seed) is None:
                    continue
                found = _finished(other, label, seed, rows, runs)
                if found is None:
                    continue
                own = spec.job_hash(label)
                run = runs.get((source, label, seed))
                curve = curves.get((label, seed))
                if run is None or curve is None or curve.spec_hash != run.spec_hash:
                    curve = None
                store.put_results(
                    [replace(r, benchmark=spec.name, spec_hash=own) for r in found],
                    None if run is None else replace(run, benchmark=spec.name, spec_hash=own),
                    curve=None if curve is None else replace(curve, benchmark=spec.name,
                                                             spec_hash=own))
                if say:
                    log.info("%s: %s seed %s: the same job finished in %s: its rows reused "
                             "(reuse: in the spec), not trained again", spec.name, label, seed,
                             source)
                copied.append((label, seed, source))
    return copied


def _finished(other: BenchmarkSpec, label: str, seed: int, rows: list[ResultRow],
              runs: dict) -> list[ResultRow] | None:
    """The rows of ``label`` × ``seed`` in benchmark ``other.name`` for every cell the spec
    asks, when that job is finished there with the same configuration; else None."""
    expected = other.job_hash(label)
    run = runs.get((other.name, label, seed))
    if label not in other.floors and (run is None or run.status != "done"
                                      or run.spec_hash != expected):
        return None
    by_key = {r.key: r for r in rows if r.method == label and r.seed == seed
              and r.spec_hash == expected}
    wanted = [_row_key(other, label, seed, cell) for cell in cells_of(other, label)]
    if not wanted or any(key not in by_key for key in wanted):
        return None
    return [by_key[key] for key in wanted]
