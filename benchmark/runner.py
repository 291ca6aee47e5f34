"""Run a benchmark spec: (method × seed) training, the evaluation grid, the store, the report.

``run_file`` loads a spec, checks everything it can before any work (``preflight``: data,
settings, samplers, methods, the store), plans one job per (label × seed) whose rows are not in
the store yet, hands the jobs to an executor, and writes each job's rows as it finishes. A job
(``run_job``) is a plain function: it trains one method for one seed (resuming from
``runs_dir/<benchmark>/<label>/seed<k>/last.pt``) — or builds the random-init floor — and
evaluates it on every eval dataset × setting × head on the same fixed episodes (fixed by the
eval seed, identical for every method), returning the result rows.

A run that fails (e.g. diverges) is recorded as ``failed`` in the store with its step and
message; the other jobs go on, and ``run_file`` raises one summary line at the end.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import torch

from benchmark import provenance
from benchmark.errors import BenchmarkError
from benchmark.executors import Job, Outcome, build_executor
from benchmark.specs import BenchmarkSpec, MethodSpec, SpecError, load_specs
from benchmark.store import ResultRow, RunRecord, Store


@dataclass(frozen=True)
class Cell:
    """One evaluation cell of a label × seed: eval split × (ways, shots) × head."""

    eval_dataset: str
    eval_split: str
    ways: int
    shots: int
    head: str


@dataclass(frozen=True)
class JobResult:
    """What ``run_job`` hands back: the result rows and the training run's record."""

    rows: tuple[ResultRow, ...]
    run: RunRecord | None


# ---------------------------------------------------------------- data


@functools.lru_cache(maxsize=16)
def _split(dataset: str, split: str, data_root: str | None):
    from benchmark.data import load_split

    return load_split(dataset, split, Path(data_root) if data_root else None)


def load_split_cached(dataset: str, split: str, data_root: Path | None):
    """``benchmark.data.load_split``, cached per process (splits are immutable)."""
    return _split(dataset, split, str(data_root) if data_root else None)


def cells_of(spec: BenchmarkSpec) -> list[Cell]:
    """Every evaluation cell of the spec, in spec order."""
    return [Cell(d.dataset, d.split, s.ways, s.shots, h)
            for d in spec.eval.datasets for s in spec.eval.settings_for(d)
            for h in spec.eval.heads]


def run_dir(runs_dir: Path, spec: BenchmarkSpec, label: str, seed: int) -> Path:
    """Where one training run keeps its checkpoints and metrics."""
    return Path(runs_dir) / spec.name / label / f"seed{seed}"


# ---------------------------------------------------------------- preflight


def _prefixed(spec: BenchmarkSpec, path: str, err: BenchmarkError) -> SpecError:
    return SpecError(spec.origin, path, str(err))


def preflight(spec: BenchmarkSpec, data_root: Path | None) -> None:
    """Check what the spec's names cannot tell: the data loads, every eval setting fits its
    split (ways ≤ classes, shots + queries ≤ images per class), eval images match the train
    images, every method accepts its episode kind and parameters. Cheap: no training.

    Raises:
        SpecError: naming the spec file and key path.
    """
    from benchmark.samplers import build_sampler
    from benchmark.methods import METHODS, build_method

    try:
        train = load_split_cached(spec.train.dataset, spec.train.split, data_root)
    except BenchmarkError as err:
        raise _prefixed(spec, "train", err) from None
    for i, data in enumerate(spec.eval.datasets):
        try:
            split = load_split_cached(data.dataset, data.split, data_root)
        except BenchmarkError as err:
            raise _prefixed(spec, f"eval.datasets[{i}]", err) from None
        if split.image_shape != train.image_shape:
            raise SpecError(spec.origin, f"eval.datasets[{i}]",
                            f"{data.dataset}/{data.split} has images of shape {split.image_shape}"
                            f" but the models are trained on {train.image_shape}")
        where = f"eval.datasets[{i}].settings" if data.settings else "eval.settings"
        for j, setting in enumerate(spec.eval.settings_for(data)):
            try:
                build_sampler("labels", split, setting.ways, setting.shots, spec.eval.queries)
            except BenchmarkError as err:
                raise SpecError(spec.origin, f"{where}[{j}]",
                                f"{setting.ways}-way {setting.shots}-shot "
                                f"{spec.eval.queries}-query on {data.dataset}/{data.split}: "
                                f"{err}") from None
    if spec.train.val_split is not None:
        try:
            val = load_split_cached(spec.train.dataset, spec.train.val_split, data_root)
            setting = spec.eval.settings[0]
            build_sampler("labels", val, setting.ways, setting.shots, spec.eval.queries)
        except BenchmarkError as err:
            raise _prefixed(spec, "train.val_split", err) from None
    for i, method in enumerate(spec.methods):
        path = f"methods[{i}]"
        try:
            METHODS.get(method.method).check_task(method.sampler, method.ways, method.shots,
                                                  method.queries)
            build_sampler(method.sampler, train, method.ways, method.shots, method.queries,
                          **_plain(method.sampler_options))
        except BenchmarkError as err:
            raise _prefixed(spec, path, err) from None
        try:
            with torch.random.fork_rng(devices=[]):
                build_method(method.method, method.backbone, train.image_shape,
                             **_plain(method.params))
        except BenchmarkError as err:
            raise _prefixed(spec, f"{path}.params", err) from None
        except (TypeError, ValueError) as err:
            raise SpecError(spec.origin, f"{path}.params", f"method {method.method!r}: {err}") \
                from None


def _plain(mapping: Any) -> Any:
    from benchmark.specs import _thaw

    return _thaw(mapping)


# ---------------------------------------------------------------- one job


def _train_config(method: MethodSpec, seed: int, device: str):
    return method.train_config(seed, device)


def _trained_model(spec: BenchmarkSpec, method: MethodSpec, seed: int, device: str,
                   runs_dir: Path, data_root: Path | None) -> tuple[torch.nn.Module, RunRecord]:
    """Train (or resume, or reload a finished run of) one method for one seed."""
    from benchmark.checkpoint import ModelSpec, load_checkpoint
    from benchmark.samplers import build_sampler
    from benchmark.evaluate import fixed_episodes, validator
    from benchmark.methods import build_method
    from benchmark.train import train

    split = load_split_cached(spec.train.dataset, spec.train.split, data_root)
    sampler = build_sampler(method.sampler, split, method.ways, method.shots, method.queries,
                            device=device, **_plain(method.sampler_options))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_method(method.method, method.backbone, split.image_shape,
                             **_plain(method.params))
    validate = None
    if spec.train.val_split is not None:
        val = load_split_cached(spec.train.dataset, spec.train.val_split, data_root)
        setting = spec.eval.settings[0]
        episodes = fixed_episodes(val, setting.ways, setting.shots, spec.eval.queries,
                                  method.trainer.val_episodes, spec.eval.seed, device)
        validate = validator(episodes, spec.eval.heads[0])
    folder = run_dir(runs_dir, spec, method.label, seed)
    model_spec = ModelSpec(method.method, method.backbone, split.image_shape,
                           _plain(method.params))
    result = train(model, sampler, _train_config(method, seed, device), folder, validate,
                   model_spec=model_spec, spec={"benchmark": spec.name, "spec_hash": spec.job_hash(method.label),
                         "method": spec.to_dict()["methods"][spec.methods.index(method)]})
    if result.best_checkpoint is not None and Path(result.best_checkpoint).exists():
        model.load_state_dict(load_checkpoint(Path(result.best_checkpoint),
                                              map_location=device)["model"])
    run = RunRecord(
        benchmark=spec.name, method=method.label, seed=seed, status="done",
        spec_hash=spec.job_hash(method.label), steps=result.steps,
        wall_seconds=result.seconds, checkpoint=str(result.best_checkpoint or
                                                    result.last_checkpoint),
        device=device, commit=provenance.commit(),
    )
    return model, run


def run_job(spec: BenchmarkSpec, label: str, seed: int, *, runs_dir: Path,
            data_root: Path | None = None, device: str = "cpu",
            cells: Sequence[Cell] | None = None) -> JobResult:
    """Train ``label`` (or build the floor) for ``seed`` and evaluate it on ``cells``
    (default: every cell of the spec). A plain function of its arguments, so any executor can
    run it.

    Raises:
        BenchmarkError: bad data or settings; ``benchmark.train.DivergedError`` (a
            BenchmarkError with ``.step``) when the loss becomes NaN or infinite.
    """
    from benchmark.evaluate import evaluate, fixed_episodes, random_floor

    cells = list(cells_of(spec) if cells is None else cells)
    train_split = load_split_cached(spec.train.dataset, spec.train.split, data_root)
    started = time.perf_counter()
    floors = spec.floors
    if label in floors:
        model, run = random_floor(floors[label], train_split.image_shape, seed), None
        method_name, backbone, steps, train_seconds = "random", floors[label], 0, 0.0
    else:
        method = spec.method(label)
        model, run = _trained_model(spec, method, seed, device, runs_dir, data_root)
        method_name, backbone, steps = method.method, method.backbone, run.steps
        train_seconds = time.perf_counter() - started
    model = model.to(device)
    common = dict(
        benchmark=spec.name, method=label, train_dataset=spec.train.dataset,
        train_split=spec.train.split, queries=spec.eval.queries, seed=seed,
        episodes=spec.eval.episodes, eval_seed=spec.eval.seed, steps=steps,
        train_seconds=train_seconds, device=device, commit=provenance.commit(),
        versions=provenance.library_versions(), spec_hash=spec.job_hash(label),
        train_fingerprint=train_split.fingerprint, method_name=method_name, backbone=backbone,
    )
    rows = []
    for (dataset, split_name, ways, shots), heads in _group(cells).items():
        split = load_split_cached(dataset, split_name, data_root)
        episodes = fixed_episodes(split, ways, shots, spec.eval.queries, spec.eval.episodes,
                                  spec.eval.seed, device)
        for head in heads:
            began = time.perf_counter()
            result = evaluate(model, episodes, head)
            rows.append(ResultRow(
                **common, eval_dataset=dataset, eval_split=split_name, ways=ways, shots=shots,
                head=head, accuracy=float(result.mean), ci95=float(result.ci95),
                eval_seconds=time.perf_counter() - began, eval_fingerprint=split.fingerprint,
                episode_accuracies=tuple(float(a) for a in result.accuracies),
            ))
    return JobResult(tuple(rows), run)


def _group(cells: Sequence[Cell]) -> dict[tuple[str, str, int, int], list[str]]:
    """Cells grouped by their episodes (split × setting), so heads share one episode set."""
    groups: dict[tuple[str, str, int, int], list[str]] = {}
    for c in cells:
        groups.setdefault((c.eval_dataset, c.eval_split, c.ways, c.shots), []).append(c.head)
    return groups


# ---------------------------------------------------------------- planning


def _row_key(spec: BenchmarkSpec, label: str, seed: int, cell: Cell) -> tuple:
    return (spec.name, label, spec.train.dataset, spec.train.split, cell.eval_dataset,
            cell.eval_split, cell.ways, cell.shots, spec.eval.queries, cell.head, seed)


@dataclass(frozen=True)
class Work:
    """A label × seed with work left: the cells to evaluate, and whether its stored training
    run (``stale_hash``) came from another configuration of the method."""

    label: str
    seed: int
    cells: tuple[Cell, ...]
    stale_hash: str | None = None


def plan(spec: BenchmarkSpec, store: Store) -> list[Work]:
    """Every label × seed with work left: a training run not done or made from another
    configuration, or cells whose rows are missing or from another configuration."""
    work = []
    for label in spec.labels:
        expected = spec.job_hash(label)
        for seed in spec.seeds:
            run = store.get_run(spec.name, label, seed)
            stale = run.spec_hash if run is not None and run.spec_hash != expected else None
            stored = store.result_hashes(spec.name, label, seed)
            missing = tuple(c for c in cells_of(spec)
                            if stored.get(_row_key(spec, label, seed, c)) != expected)
            trained = label in spec.floors or (run is not None and run.status == "done")
            if missing or not trained or stale:
                work.append(Work(label, seed, tuple(cells_of(spec)) if stale else missing,
                                 stale))
    return work


def _retire(folder: Path, old_hash: str) -> Path | None:
    """Move a run folder of another configuration aside (kept, never deleted)."""
    if not folder.exists():
        return None
    target = folder.with_name(f"{folder.name}.stale-{old_hash}")
    suffix = 0
    while target.exists():
        suffix += 1
        target = folder.with_name(f"{folder.name}.stale-{old_hash}-{suffix}")
    folder.rename(target)
    return target


# ---------------------------------------------------------------- the whole run


def _resolve_device(name: str) -> str:
    from benchmark.device import resolve_device

    return str(resolve_device(name))


def _run_spec(spec: BenchmarkSpec, store_path: Path, runs_dir: Path,
              data_root: Path | None, device: str, executor: str) -> list[RunRecord]:
    """Run one preflighted spec on a resolved ``device`` into the store; returns the records
    of the runs that failed."""
    with Store(store_path) as store:
        work = plan(spec, store)
        for item in work:
            if item.stale_hash is not None:
                moved = _retire(run_dir(runs_dir, spec, item.label, item.seed), item.stale_hash)
                print(f"{spec.name}: {item.label} seed {item.seed}: configuration changed "
                      f"(spec hash {item.stale_hash} -> {spec.job_hash(item.label)}); "
                      f"retraining" + (f", previous run kept in {moved}" if moved else ""),
                      flush=True)
        jobs = [Job((w.label, w.seed), run_job,
                    dict(spec=spec, label=w.label, seed=w.seed, runs_dir=Path(runs_dir),
                         data_root=data_root, device=device, cells=w.cells))
                for w in work]
        print(f"{spec.name}: {len(jobs)} job(s) to run, "
              f"{len(spec.labels) * len(spec.seeds) - len(jobs)} already done "
              f"(store {store_path}, device {device})", flush=True)

        def started(job: Job) -> None:
            label, seed = job.key
            print(f"{spec.name}: {label} seed {seed} ...", flush=True)
            if label not in spec.floors:
                store.set_run(RunRecord(spec.name, label, seed, "running",
                                        spec_hash=spec.job_hash(label), device=device,
                                        commit=provenance.commit(),
                                        checkpoint=str(run_dir(runs_dir, spec, label, seed))))

        failed = []
        for outcome in build_executor(executor).run(jobs, started):
            failure = _record(spec, store, outcome, device)
            if failure is not None:
                failed.append(failure)
        return failed


def _record(spec: BenchmarkSpec, store: Store, outcome: Outcome, device: str) -> RunRecord | None:
    """Write a finished job's rows and run record; a failure is recorded as ``failed``."""
    label, seed = outcome.job.key
    if outcome.error is None:
        result: JobResult = outcome.result
        store.put_results(result.rows, result.run)
        best = ", ".join(f"{r.eval_dataset}/{r.eval_split} {r.ways}w{r.shots}s {r.head}: "
                         f"{100 * r.accuracy:.2f}" for r in result.rows)
        print(f"{spec.name}: {label} seed {seed} done ({best or 'nothing left to evaluate'})",
              flush=True)
        return None
    err = outcome.error
    message = " ".join(str(err).split()) or type(err).__name__
    record = RunRecord(spec.name, label, seed, "failed", spec_hash=spec.job_hash(label),
                       failed_step=getattr(err, "step", None), error=message, device=device,
                       commit=provenance.commit(),
                       checkpoint=str(getattr(err, "checkpoint", None) or ""))
    store.set_run(record)
    print(f"{spec.name}: {label} seed {seed} FAILED: {message}", flush=True)
    if not isinstance(err, BenchmarkError):
        raise err
    return record


def _report_dir(spec: BenchmarkSpec, report_dir: str | Path | None, several: bool) -> Path:
    """Where a benchmark's tables go: ``report_dir`` (one folder per spec of an ablation file),
    or ``results/<spec name>/``."""
    if report_dir is None:
        return Path("results") / spec.name
    return Path(report_dir) / spec.name if several else Path(report_dir)


def check_writable_dir(path: Path, what: str) -> None:
    """Refuse, before any work and without creating anything, a folder that cannot be made or
    written: its nearest existing ancestor must be a writable directory.

    Raises:
        BenchmarkError: naming the option and the path.
    """
    probe = path.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise BenchmarkError(f"{what} {path} cannot be created: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BenchmarkError(f"{what} {path} is not writable: {probe} is read-only")


def run_file(spec_path: str | Path, store_path: str | Path = Path("results/results.sqlite"),
             data_root: Path | None = None, runs_dir: str | Path = Path("results/runs"),
             device: str | None = None, report_dir: str | Path | None = None,
             executor: str = "local") -> None:
    """What ``python -m benchmark run SPEC`` does: run the spec (or every spec of an ablation
    file), render each benchmark's report into ``report_dir`` (default
    ``results/<spec name>/``) and print its Markdown table.

    Raises:
        BenchmarkError: a bad spec, data, setting or store (before any work), or — after all
            the work that could be done — one line summarising the runs that failed.
    """
    from benchmark.report.render import render_benchmark

    specs = load_specs(spec_path, data_root)
    for spec in specs:
        preflight(spec, data_root)
    devices = [_resolve_device(device or spec.device) for spec in specs]
    outs = [_report_dir(spec, report_dir, several=len(specs) > 1) for spec in specs]
    for folder, what in [(Path(runs_dir), "--runs-dir")] + [(out, "--report-dir") for out in outs]:
        check_writable_dir(folder, what)
    Store(store_path).close()  # a store that is not SQLite or is locked fails here, untouched
    failed: list[RunRecord] = []
    for spec, spec_device, out in zip(specs, devices, outs):
        failed += _run_spec(spec, Path(store_path), Path(runs_dir), data_root, spec_device, executor)
        with Store(store_path) as store:
            if spec.name not in store.benchmarks():
                continue
            report = render_benchmark(store, spec.name, out)
        print(report.markdown)
        print("wrote " + ", ".join(str(p) for p in report.files.values()), flush=True)
    if failed:
        detail = "; ".join(f"{r.method} seed {r.seed}"
                           + (f" at step {r.failed_step}" if r.failed_step is not None else "")
                           + f" ({r.error})" for r in failed)
        raise BenchmarkError(f"{len(failed)} run(s) failed (recorded in {store_path}): {detail}")
