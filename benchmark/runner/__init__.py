"""Run a benchmark spec: (method × seed) training, the evaluation grid, the store, the report.

``run_file`` (``driver``) loads a spec, checks everything it can before any work
(``checks.preflight``: data, settings, samplers, methods; the device, the folders, the store),
plans one job per (label × seed) whose rows are not in the store yet (``planning.plan``),
hands the jobs to an executor (``benchmark.executors``) and writes each job's rows as it
finishes. A job (``job.run_job``) is a plain function: it resolves its device, trains one
method for one seed (resuming from ``runs_dir/<benchmark>/<label>/seed<k>/last.pt``) — or
builds the random-init floor — and evaluates it on every eval dataset × setting × head on the
same fixed episodes (fixed by the eval seed, identical for every method), returning the result
rows. Progress lines go to the ``benchmark.runner.progress`` logger (``progress``).

A run that fails (e.g. diverges) is recorded as ``failed`` in the store with its step and
message; the other jobs go on, and ``run_file`` raises one summary line at the end.
"""

from benchmark.runner.cells import Cell, cells_of
from benchmark.runner.checks import check_device, check_writable_dir, preflight
from benchmark.runner.driver import run_file
from benchmark.runner.job import JobResult, run_dir, run_job
from benchmark.runner.planning import Work, plan
from benchmark.runner.reuse import retire

__all__ = ["Cell", "JobResult", "Work", "cells_of", "check_device", "check_writable_dir",
           "plan", "preflight", "retire", "run_dir", "run_file", "run_job"]
