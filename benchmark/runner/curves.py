"""The validation curves of runs that finished before the store kept curves: recorded from
their run folders, when the folder's checkpoint is of the run's configuration.

A finished job's curve is written with its rows (``driver``); a store made earlier holds its
runs without one, and a report drawn from that store (or from its export, elsewhere) would
have no time-to-accuracy plot and no training budget. ``record_curves`` reads each such run's
``metrics.csv``, but only from a folder whose ``last.pt`` carries the run's job hash: a folder
of another configuration (a run since retrained, a folder copied from elsewhere) says nothing
about the run's rows.
"""

from __future__ import annotations

import logging

from benchmark.checkpoint import load_checkpoint
from benchmark.errors import BenchmarkError
from benchmark.report.curves import log_curve, run_folder
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.store import RunRecord, Store

log = logging.getLogger("benchmark.runner.progress")


def record_curves(spec: BenchmarkSpec, store: Store) -> list[tuple[str, int]]:
    """Store the curve of every finished run of ``spec`` that the store holds without one of
    its configuration, read from its run folder when that folder is the run's (each said in a
    progress line); returns the (label, seed) of the curves recorded."""
    have = {(c.method, c.seed): c.spec_hash for c in store.curves(spec.name)}
    recorded: list[tuple[str, int]] = []
    for run in store.runs(spec.name):
        if run.status != "done" or have.get((run.method, run.seed)) == run.spec_hash:
            continue
        if not _folder_is_of(run):
            continue
        curve = log_curve(run)
        if isinstance(curve, str):
            continue
        store.set_curve(curve)
        log.info("%s: %s seed %s: validation curve recorded from %s (the run finished before "
                 "the store kept curves)", spec.name, run.method, run.seed, run_folder(run))
        recorded.append((run.method, run.seed))
    return recorded


def _folder_is_of(run: RunRecord) -> bool:
    """Whether ``run``'s folder holds a ``last.pt`` written by the run's job (its hash)."""
    if not run.checkpoint:
        return False
    last = run_folder(run) / "last.pt"
    if not last.is_file():
        return False
    try:
        stored = load_checkpoint(last).get("spec") or {}
    except BenchmarkError:
        return False
    return isinstance(stored, dict) and stored.get("spec_hash") == run.spec_hash
