"""The driver: ``run_file`` checks, plans, hands the jobs to an executor and writes the store.

Only the driver writes the store and the report: it claims a job's lease when the executor
starts it (a job another live process holds is skipped, and waited for at the end), marks it
``running``, writes each finished job's rows and run record (or a ``failed`` record) as its
outcome arrives, giving the lease back in the same transaction, and renders each benchmark's
tables at the end — or, for an ablation file, its grid points before the runs and its one
report at the end.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmark import provenance
from benchmark.spec.ablation import MAX_POINTS, AblationPlan, check_path
from benchmark.errors import BenchmarkError, RunsFailed
from benchmark.executors import Executor, Job, Outcome, build_executor
from benchmark.runner import progress
from benchmark.runner.adopt import adopt
from benchmark.runner.checks import (check_device, check_eval_precision, check_writable_dir,
                                     preflight)
from benchmark.runner.curves import record_curves
from benchmark.runner.job import JobResult, run_dir, run_job
from benchmark.runner.leases import DEFAULT_TIMEOUT_S, LeaseKeeper, check_timeout
from benchmark.runner.planning import Work, dry_plan, plan, plan_text, steps_left, work_left
from benchmark.runner.reuse import retire
from benchmark.runner.stages import resolved_specs
from benchmark.samplers import supervision_of
from benchmark.interrupt import interruption
from benchmark.spec.plain import canonical_hash, writable
from benchmark.spec.schema import Reader
from benchmark.spec.benchmark_spec import BenchmarkSpec, parse_spec
from benchmark.spec.file import read_spec_file
from benchmark.store import DEFAULT_STORE, Lease, RunRecord, Store


def _run_spec(spec: BenchmarkSpec, store_path: Path, runs_dir: Path, data_root: Path | None,
              device: str, resolved: str, executor: Executor,
              leases: LeaseKeeper, only: frozenset[str] | None = None) -> list[RunRecord]:
    """Run one preflighted spec into the store; returns the records of the runs that failed.

    ``device`` is the requested name each job resolves where it runs; ``resolved`` is what it
    names here (the progress line, and the records written before a job reports back). A job
    runs only once this process holds its lease; jobs other processes hold are left to them,
    and looked at again when this process has nothing else to do: run here if their holder
    died or gave them back unfinished, waited for while it lives. ``only``: the labels whose
    jobs run (None: all).
    """
    with Store(store_path) as store:
        adopt(spec, store)  # the finished jobs of the benchmarks its ``reuse:`` names
        record_curves(spec, store)  # of runs that finished before the store kept curves
        unfinished = plan(spec, store, runs_dir)
        planned = [w for w in unfinished if only is None or w.label in only]
        progress.planned(spec, len(planned), len(unfinished) - len(planned), store_path,
                         resolved)
        attempted: set[tuple[str, int]] = set()
        failed: list[RunRecord] = []
        clock = progress.Overall(spec, {(w.label, w.seed): steps_left(
            spec, store, w.label, w.seed, runs_dir)[0] for w in planned})

        def started(job: Job) -> bool:
            label, seed = job.key
            lease = leases.lease(spec, label, seed)
            claimed, other = leases.claim(store, lease)
            if not claimed:
                progress.skipped(spec, label, seed, other)
                clock.held_elsewhere(job.key)
                return False
            if other is not None:
                progress.taken_over(spec, label, seed, other, leases.gone(other))
            work = work_left(spec, store, label, seed, runs_dir)  # the store may have moved on
            if work is None:
                store.release(lease)
                progress.done_elsewhere(spec, label, seed)
                clock.done_elsewhere(job.key)
                return False
            if job.key in clock.away:
                clock.taken_back(job.key, steps_left(spec, store, label, seed, runs_dir)[0])
            attempted.add(job.key)
            if work.stale_hash is not None:
                moved = retire(run_dir(runs_dir, spec, label, seed), work.stale_hash)
                progress.configuration_changed(spec, label, seed, work.stale_hash, moved)
            elif work.weights_gone:
                progress.weights_gone(spec, label, seed, run_dir(runs_dir, spec, label, seed))
            progress.started(spec, label, seed)
            if label not in spec.floors:
                store.set_run(RunRecord(spec.name, label, seed, "running",
                                        spec_hash=spec.job_hash(label), device=resolved,
                                        commit=provenance.commit(),
                                        checkpoint=str(run_dir(runs_dir, spec, label, seed))))
            return True

        def run(work: list[Work]) -> None:
            jobs = [Job((w.label, w.seed), run_job,
                        dict(spec=spec, label=w.label, seed=w.seed, runs_dir=runs_dir,
                             data_root=data_root, device=device, cells=w.cells))
                    for w in work]
            finished: set[tuple[str, int]] = set()
            try:
                for outcome in executor.run(jobs, started):
                    finished.add(outcome.job.key)
                    failure = _record(spec, store, outcome, resolved,
                                      leases.lease(spec, *outcome.job.key))
                    if failure is not None:
                        failed.append(failure)
                    clock.job_done(outcome)
            except KeyboardInterrupt as stop:  # SIGINT, or SIGTERM (benchmark.interrupt)
                for label, seed in (attempted & {job.key for job in jobs}) - finished:
                    if label not in spec.floors:
                        store.set_run(RunRecord(
                            spec.name, label, seed, "failed", spec_hash=spec.job_hash(label),
                            error=interruption(stop), device=resolved,
                            commit=provenance.commit(),
                            checkpoint=str(run_dir(runs_dir, spec, label, seed))),
                            release=leases.lease(spec, label, seed))
                raise

        run(planned)
        waited = False
        mine = {(w.label, w.seed) for w in planned}
        while True:
            left = [w for w in plan(spec, store, runs_dir)
                    if (w.label, w.seed) in mine - attempted]
            for key in clock.away - {(w.label, w.seed) for w in left}:
                progress.done_elsewhere(spec, *key)
                clock.done_elsewhere(key)
            if not left:
                return failed
            free = [w for w in left if leases.held_elsewhere(store, spec, w.label, w.seed) is None]
            if free:
                run(free)
                continue
            if not waited:
                progress.waiting(spec, len(left))
                waited = True
            time.sleep(leases.look_interval)


def _record(spec: BenchmarkSpec, store: Store, outcome: Outcome, resolved: str,
            lease: Lease) -> RunRecord | None:
    """Write a finished job's rows and run record, or its ``failed`` record (with the device
    the job ran on; ``resolved`` when it failed before knowing it), giving its lease back in
    the same transaction."""
    label, seed = outcome.job.key
    if outcome.error is None:
        result: JobResult = outcome.result
        store.put_results(result.rows, result.run, release=lease, curve=result.curve)
        progress.finished(spec, label, seed, result.rows)
        return None
    err = outcome.error
    message = " ".join(str(err).split()) or type(err).__name__
    record = RunRecord(spec.name, label, seed, "failed", spec_hash=spec.job_hash(label),
                       failed_step=getattr(err, "step", None), error=message,
                       device=getattr(err, "device", resolved), commit=provenance.commit(),
                       checkpoint=str(getattr(err, "checkpoint", None) or ""))
    store.set_run(record, release=lease)
    progress.failed(spec, label, seed, message)
    if not isinstance(err, BenchmarkError):
        raise err
    return record


def _report_dir(specs: list[BenchmarkSpec], ablation: AblationPlan | None,
                report_dir: str | Path | None, overrides: Mapping[str, Any] | None = None,
                only: Sequence[str] | None = None) -> Path:
    """Where the report goes: ``report_dir``, or ``results/ablations/<ablation>/`` for an
    ablation file, ``results/<spec name>`` for a spec (its plots' folder; the tables go beside
    it, ``results/<spec name>.md``). A run that is not the file's (``--set`` overrides or
    ``--only`` labels) never writes over the file's report: without ``report_dir`` it goes to
    ``results/experiments/<name>-<hash of the overrides and labels>``."""
    if report_dir is not None:
        return Path(report_dir)
    name = ablation.name if ablation is not None else specs[0].name
    if overrides or only is not None:
        change = canonical_hash({"set": writable(dict(overrides or {})),
                                 "only": sorted(only) if only is not None else None})
        return Path("results") / "experiments" / f"{name}-{change[:8]}"
    if ablation is not None:
        return Path("results") / "ablations" / name
    return Path("results") / name


def report_ablation(store: Store, ablation: str, out: Path, command: str | None) -> Any:
    """The ablation's one report (``benchmark.report.ablation``, imported only when reporting:
    matplotlib, scipy)."""
    from benchmark.report.ablation import render_ablation

    return render_ablation(store, ablation, out, command=command)


def results_root(ablation: AblationPlan | None, out: Path, experiment: bool) -> Path | None:
    """The results folder a report in ``out`` belongs to, whose indexes and export it
    refreshes: a spec's report folder's parent (where its tables go), an ablation's
    ``<root>/ablations/<name>``'s ``<root>``; None for an experiment (``--set``, ``--only``)
    and an ablation reported outside an ``ablations`` folder."""
    if experiment:
        return None
    if ablation is None:
        return out.parent
    return out.parent.parent if out.parent.name == "ablations" else None


def _report(store_path: Path, specs: list[BenchmarkSpec], ablation: AblationPlan | None,
            out: Path, command: str | None, root: Path | None) -> None:
    """Render the spec's tables, or the ablation's report, when the store holds rows of it,
    then refresh the results folder ``root`` (its indexes and export,
    ``benchmark.report.render.refresh_folder``) if given; log its Markdown and the files
    written."""
    from benchmark.report.render import refresh_folder, render_benchmark  # matplotlib: lazily

    with Store(store_path) as store:
        stored = set(store.benchmarks())
        if not stored & {spec.name for spec in specs}:
            return
        report = (report_ablation(store, ablation.name, out, command) if ablation is not None
                  else render_benchmark(store, specs[0].name, out, supervision={
                      m.label: supervision_of(m.sampler) for m in specs[0].methods},
                      planned=[(label, seed) for label in specs[0].labels
                               for seed in specs[0].seeds]))
        written = refresh_folder(root, store) if root is not None else []
    progress.reported(report.markdown, [*report.files.values(), *written])


def load_run(spec_path: str | Path | Mapping[str, Any], data_root: Path | None = None,
             overrides: Mapping[str, Any] | None = None, only: Sequence[str] | None = None,
             yes: bool = False) -> tuple[AblationPlan | None, list[BenchmarkSpec]]:
    """What a run file runs: its ablation plan (None for a plain spec) and its specs, with
    ``overrides`` (``{"methods[0].params.temperature": 0.2}``: the paths ablations use,
    checked by ``spec.ablation.check_path`` and applied by ``BenchmarkSpec.with_overrides``)
    applied to every spec; ``only`` labels checked against the specs' labels.

    ``spec_path`` may also be the plain data of a spec (a mapping, as parsed from YAML).

    Raises:
        BenchmarkError: a bad file, override path or value, or an unknown ``only`` label.
    """
    if isinstance(spec_path, Mapping):
        ablation, specs = None, [parse_spec(writable(spec_path), "<spec>", data_root)]
    else:
        read = read_spec_file(spec_path, data_root, max_points=None if yes else MAX_POINTS)
        ablation, specs = read.ablation, list(read.specs)
    if overrides:
        specs = [_overridden(spec, overrides, data_root) for spec in specs]
    if only is not None:
        labels = list(dict.fromkeys(label for spec in specs for label in spec.labels))
        unknown = [label for label in only if label not in labels]
        if unknown:
            raise BenchmarkError(f"--only {', '.join(unknown)}: no such label in "
                                 f"{specs[0].origin} (labels: {', '.join(labels)})")
    return ablation, specs


def _overridden(spec: BenchmarkSpec, overrides: Mapping[str, Any],
                data_root: Path | None) -> BenchmarkSpec:
    """``spec`` with ``--set`` overrides, each path checked against the schema first."""
    reader = Reader(spec.origin, data_root)
    if "name" in overrides:
        raise reader.fail("--set", "name: the benchmark's name keeps its rows; edit the file")
    for key in overrides:
        check_path(writable(spec.raw), key, reader, "--set")
    return replace(spec.with_overrides(overrides, data_root), floor=spec.floor)


def run_file(spec_path: str | Path | Mapping[str, Any],
             store_path: str | Path = DEFAULT_STORE,
             data_root: Path | None = None, runs_dir: str | Path = Path("results/runs"),
             device: str | None = None, report_dir: str | Path | None = None,
             executor: str = "local", executor_options: Mapping[str, Any] | None = None,
             lease_timeout: float | None = None, yes: bool = False,
             command: str | None = None, overrides: Mapping[str, Any] | None = None,
             only: Sequence[str] | None = None) -> list[str]:
    """What ``python -m benchmark run FILE`` does: run the spec (or every grid point of an
    ablation file, ``benchmark.spec.ablation``) with the registered ``executor`` (built with
    ``executor_options``), render the report to ``report_dir`` (a spec's plots into it and its
    tables beside it as ``<report_dir>.md/.tex/.csv``, default ``results/<spec name>``; an
    ablation's whole report into it, default ``results/ablations/<ablation>/``), refresh the
    indexes and the export of the results folder it belongs to (``results_root``: ``results/``
    by default) and log its Markdown (``benchmark.runner.progress``).

    An ablation's grid points are written to the store before any run starts, so a killed
    ablation's report can be rendered for what exists; run again, it skips finished runs.
    ``yes`` allows a grid of more than ``MAX_POINTS`` points; ``command`` is the command line
    the ablation report names.

    ``overrides`` and ``only`` (``load_run``): spec paths set to values (``--set``), and the
    labels whose jobs run (``--only``; the others are left as the store has them).

    ``device`` (default: the spec's) is the name each job resolves where it runs; it must
    resolve here too. ``lease_timeout``: seconds without a heartbeat after which another
    process may take over a job this one holds (default ``leases.DEFAULT_TIMEOUT_S``).

    Returns:
        the names of the benchmarks run (the spec's; an ablation's floor and grid points).

    Raises:
        BenchmarkError: a bad spec, ablation, data, setting, device, executor or store (before
            any work), or — after all the work that could be done — one line summarising the
            runs that failed.
    """
    ablation, specs = load_run(spec_path, data_root, overrides, only, yes)
    specs, stages = resolved_specs(specs, Path(store_path), only)
    for stage in stages:
        progress.stage_read(stage.line())
    requested, resolved = _preflight(specs, data_root, device)
    out = _report_dir(specs, ablation, report_dir, overrides, only)
    if report_dir is None and (overrides or only is not None):
        progress.elsewhere(out)
    for folder, what in [(Path(runs_dir), "--runs-dir"), (out, "--report-dir")]:
        check_writable_dir(folder, what)
    runner = build_executor(executor, **(executor_options or {}))
    lease_timeout = check_timeout(DEFAULT_TIMEOUT_S if lease_timeout is None else lease_timeout)
    Store(store_path).close()  # a store that is not SQLite or is locked fails here, untouched
    if ablation is not None:
        with Store(store_path) as store:
            store.put_ablation_points(ablation.points)
    failed: list[RunRecord] = []
    with LeaseKeeper(Path(store_path), lease_timeout) as leases:
        for spec, name, here in zip(specs, requested, resolved):
            failed += _run_spec(spec, Path(store_path), Path(runs_dir), data_root, name, here,
                                runner, leases, None if only is None else frozenset(only))
    _report(Path(store_path), specs, ablation, out, command,
            results_root(ablation, out, experiment=bool(overrides) or only is not None))
    if failed:
        raise RunsFailed(_failures(failed, store_path))
    return [spec.name for spec in specs]


def _preflight(specs: list[BenchmarkSpec], data_root: Path | None,
               device: str | None) -> tuple[list[str], list[str]]:
    """Preflight every spec; the device each asks for (``device`` or the spec's) and what that
    resolves to here."""
    for spec in specs:
        preflight(spec, data_root)
    requested = [device or spec.device for spec in specs]
    resolved = [check_device(name) for name in requested]
    for spec, here in zip(specs, resolved):
        check_eval_precision(spec, here)
    return requested, resolved


def _failures(failed: list[RunRecord], store_path: str | Path) -> str:
    """The one line that sums up the runs that failed."""
    detail = "; ".join(f"{r.method} seed {r.seed}"
                       + (f" at step {r.failed_step}" if r.failed_step is not None else "")
                       + f" ({r.error})" for r in failed)
    return f"{len(failed)} run(s) failed (recorded in {store_path}): {detail}"


def plan_file(spec_path: str | Path | Mapping[str, Any],
              store_path: str | Path = DEFAULT_STORE,
              data_root: Path | None = None, device: str | None = None,
              overrides: Mapping[str, Any] | None = None, only: Sequence[str] | None = None,
              yes: bool = False, runs_dir: str | Path | None = None) -> str:
    """What ``benchmark run FILE --plan`` prints: the jobs that would run, what the store
    already holds and an estimated time (``planning.dry_plan``), after the same checks as
    ``run_file``; nothing is written (not the store, not a run folder, not a report)."""
    _, specs = load_run(spec_path, data_root, overrides, only, yes)
    specs, stages = resolved_specs(specs, Path(store_path), only)
    for spec in specs:
        preflight(spec, data_root)
    resolved = check_device(device or specs[0].device)
    for spec in specs:
        check_eval_precision(spec, resolved)
    jobs = dry_plan(specs, Path(store_path), data_root, resolved, only,
                    runs_dir=Path(runs_dir) if runs_dir is not None else None,
                    adopt=lambda spec, store: adopt(spec, store, say=False))
    return "\n".join([*(stage.line() for stage in stages),
                      plan_text(jobs, Path(store_path), resolved)])

