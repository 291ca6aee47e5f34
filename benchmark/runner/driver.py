"""The driver: ``run_file`` checks, plans, hands the jobs to an executor and writes the store.

Only the driver writes the store and the report: it marks a job ``running`` when the executor
starts it, writes each finished job's rows and run record (or a ``failed`` record) as its
outcome arrives, and renders each benchmark's tables at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from benchmark import provenance
from benchmark.errors import BenchmarkError
from benchmark.executors import Executor, Job, Outcome, build_executor
from benchmark.runner import progress
from benchmark.runner.checks import check_device, check_writable_dir, preflight
from benchmark.runner.job import JobResult, run_dir, run_job
from benchmark.runner.planning import plan, retire
from benchmark.specs import BenchmarkSpec, load_specs
from benchmark.store import RunRecord, Store


def _run_spec(spec: BenchmarkSpec, store_path: Path, runs_dir: Path, data_root: Path | None,
              device: str, resolved: str, executor: Executor) -> list[RunRecord]:
    """Run one preflighted spec into the store; returns the records of the runs that failed.

    ``device`` is the requested name each job resolves where it runs; ``resolved`` is what it
    names here (the progress line, and the records written before a job reports back).
    """
    with Store(store_path) as store:
        work = plan(spec, store)
        for item in work:
            if item.stale_hash is not None:
                moved = retire(run_dir(runs_dir, spec, item.label, item.seed), item.stale_hash)
                progress.configuration_changed(spec, item.label, item.seed, item.stale_hash,
                                               moved)
        jobs = [Job((w.label, w.seed), run_job,
                    dict(spec=spec, label=w.label, seed=w.seed, runs_dir=runs_dir,
                         data_root=data_root, device=device, cells=w.cells))
                for w in work]
        progress.planned(spec, len(jobs), store_path, resolved)

        def started(job: Job) -> None:
            label, seed = job.key
            progress.started(spec, label, seed)
            if label not in spec.floors:
                store.set_run(RunRecord(spec.name, label, seed, "running",
                                        spec_hash=spec.job_hash(label), device=resolved,
                                        commit=provenance.commit(),
                                        checkpoint=str(run_dir(runs_dir, spec, label, seed))))

        failed = []
        for outcome in executor.run(jobs, started):
            failure = _record(spec, store, outcome, resolved)
            if failure is not None:
                failed.append(failure)
        return failed


def _record(spec: BenchmarkSpec, store: Store, outcome: Outcome,
            resolved: str) -> RunRecord | None:
    """Write a finished job's rows and run record; a failure is recorded as ``failed`` with
    the device the job ran on (``resolved`` when it failed before knowing it)."""
    label, seed = outcome.job.key
    if outcome.error is None:
        result: JobResult = outcome.result
        store.put_results(result.rows, result.run)
        progress.finished(spec, label, seed, result.rows)
        return None
    err = outcome.error
    message = " ".join(str(err).split()) or type(err).__name__
    record = RunRecord(spec.name, label, seed, "failed", spec_hash=spec.job_hash(label),
                       failed_step=getattr(err, "step", None), error=message,
                       device=getattr(err, "device", resolved), commit=provenance.commit(),
                       checkpoint=str(getattr(err, "checkpoint", None) or ""))
    store.set_run(record)
    progress.failed(spec, label, seed, message)
    if not isinstance(err, BenchmarkError):
        raise err
    return record


def _report_dir(spec: BenchmarkSpec, report_dir: str | Path | None, several: bool) -> Path:
    """Where a benchmark's tables go: ``report_dir`` (one folder per spec of an ablation file),
    or ``results/<spec name>/``."""
    if report_dir is None:
        return Path("results") / spec.name
    return Path(report_dir) / spec.name if several else Path(report_dir)


def run_file(spec_path: str | Path, store_path: str | Path = Path("results/results.sqlite"),
             data_root: Path | None = None, runs_dir: str | Path = Path("results/runs"),
             device: str | None = None, report_dir: str | Path | None = None,
             executor: str = "local", executor_options: Mapping[str, Any] | None = None) -> None:
    """What ``python -m benchmark run SPEC`` does: run the spec (or every spec of an ablation
    file) with the registered ``executor`` (built with ``executor_options``), render each
    benchmark's report into ``report_dir`` (default ``results/<spec name>/``) and log its
    Markdown table (``benchmark.runner.progress``).

    ``device`` (default: the spec's) is the name each job resolves where it runs; it must
    resolve here too.

    Raises:
        BenchmarkError: a bad spec, data, setting, device, executor or store (before any
            work), or — after all the work that could be done — one line summarising the runs
            that failed.
    """
    from benchmark.report.render import render_benchmark  # matplotlib: only when reporting

    specs = load_specs(spec_path, data_root)
    for spec in specs:
        preflight(spec, data_root)
    requested = [device or spec.device for spec in specs]
    resolved = [check_device(name) for name in requested]
    outs = [_report_dir(spec, report_dir, several=len(specs) > 1) for spec in specs]
    for folder, what in [(Path(runs_dir), "--runs-dir")] + [(out, "--report-dir") for out in outs]:
        check_writable_dir(folder, what)
    runner = build_executor(executor, **(executor_options or {}))
    Store(store_path).close()  # a store that is not SQLite or is locked fails here, untouched
    failed: list[RunRecord] = []
    for spec, name, here, out in zip(specs, requested, resolved, outs):
        failed += _run_spec(spec, Path(store_path), Path(runs_dir), data_root, name, here,
                            runner)
        with Store(store_path) as store:
            if spec.name not in store.benchmarks():
                continue
            report = render_benchmark(store, spec.name, out)
        progress.reported(report.markdown, report.files.values())
    if failed:
        detail = "; ".join(f"{r.method} seed {r.seed}"
                           + (f" at step {r.failed_step}" if r.failed_step is not None else "")
                           + f" ({r.error})" for r in failed)
        raise BenchmarkError(f"{len(failed)} run(s) failed (recorded in {store_path}): {detail}")
