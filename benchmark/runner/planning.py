"""Planning against the store: what it already holds → the work left, retiring the run
folders of a changed configuration, and the dry plan of ``benchmark run --plan`` (what would
run, with a time estimate, writing nothing)."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from benchmark.precision import resolve_eval
from benchmark.runner.cells import Cell, cells_of
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.store import Store


@dataclass(frozen=True)
class Work:
    """A label × seed with work left: the cells to evaluate, and whether its stored training
    run (``stale_hash``) came from another configuration of the method, or is this job under
    another STEP COUNT whose checkpoint goes on to the spec's (``continues_from``: that count;
    its folder is kept, every cell evaluated again)."""

    label: str
    seed: int
    cells: tuple[Cell, ...]
    stale_hash: str | None = None
    weights_gone: bool = False  # a finished run whose checkpoint is gone: retrained, every cell
    continues_from: int = 0


def _row_key(spec: BenchmarkSpec, label: str, seed: int, cell: Cell) -> tuple:
    return (spec.name, label, spec.train.dataset, spec.train_split_of(label), cell.eval_dataset,
            cell.split_name, cell.ways, cell.shots, spec.eval.queries, cell.head, seed, cell.mark)


def plan(spec: BenchmarkSpec, store: Store, runs_dir: Path | None = None) -> list[Work]:
    """Every label × seed with work left: a training run not done or made from another
    configuration, or cells whose rows are missing or from another configuration
    (``work_left``)."""
    found = (work_left(spec, store, label, seed, runs_dir)
             for label in spec.labels for seed in spec.seeds)
    return [work for work in found if work is not None]


def work_left(spec: BenchmarkSpec, store: Store, label: str, seed: int,
              runs_dir: Path | None = None) -> Work | None:
    """The work left for one label × seed as the store stands now, or None when it is done.

    Cells missing from a finished run are evaluated on its weights; when its checkpoint is
    no longer in ``runs_dir`` (a store loaded from an export, a deleted folder), the run is
    trained again and every cell evaluated again, so that all its rows come from one
    training (None: the folder is not looked at)."""
    expected = spec.job_hash(label)
    run = store.get_run(spec.name, label, seed)
    stale = run.spec_hash if run is not None and run.spec_hash != expected else None
    continues = continued_from(spec, label, seed, runs_dir) if stale else 0
    stale = None if continues else stale
    stored = store.result_hashes(spec.name, label, seed)
    missing = tuple(c for c in cells_of(spec, label)
                    if stored.get(_row_key(spec, label, seed, c)) != expected)
    trained = label in spec.floors or (run is not None and run.status == "done"
                                       and not continues)
    gone = bool(missing) and trained and not stale and not weights_kept(spec, label, seed,
                                                                        runs_dir)
    if missing or not trained or stale:
        redo = stale or gone
        return Work(label, seed, tuple(cells_of(spec, label)) if redo else missing, stale, gone,
                    continues)
    return None


def continued_from(spec: BenchmarkSpec, label: str, seed: int, runs_dir: Path | None) -> int:
    """The STEP COUNT of the run whose checkpoint in ``runs_dir`` goes on to ``label``'s
    (``benchmark.runner.reuse.continued_steps``), 0 when none does (no folder looked at
    without ``runs_dir``)."""
    from benchmark.checkpoint import load_checkpoint
    from benchmark.errors import BenchmarkError
    from benchmark.runner.job import run_dir
    from benchmark.runner.reuse import continued_steps

    last = None if runs_dir is None else run_dir(runs_dir, spec, label, seed) / "last.pt"
    if last is None or not last.is_file():
        return 0
    try:
        return continued_steps(load_checkpoint(last), spec, label) or 0
    except BenchmarkError:
        return 0


def weights_kept(spec: BenchmarkSpec, label: str, seed: int, runs_dir: Path | None) -> bool:
    """Whether a finished run of ``label`` × ``seed`` still has the weights its rows were
    evaluated on in ``runs_dir`` (its ``last.pt``); a floor or a method that does not train
    has none to keep, and without ``runs_dir`` nothing is looked at (True)."""
    from benchmark.methods import METHODS
    from benchmark.runner.job import run_dir

    if runs_dir is None or label in spec.floors:
        return True
    if not METHODS.get(spec.method(label).method).trains:
        return True
    return (run_dir(runs_dir, spec, label, seed) / "last.pt").is_file()


def checkpoint_step(folder: Path) -> int:
    """The step of the resumable checkpoint (``last.pt``) in a run folder, 0 without one (or
    with one that cannot be read: the run starts over and says why)."""
    from benchmark.checkpoint import load_checkpoint
    from benchmark.errors import BenchmarkError

    path = Path(folder) / "last.pt"
    if not path.is_file():
        return 0
    try:
        return int(load_checkpoint(path).get("step", 0))
    except (BenchmarkError, TypeError, ValueError):
        return 0


def steps_left(spec: BenchmarkSpec, store: Store, label: str, seed: int,
               runs_dir: Path | None = None) -> tuple[int, int]:
    """(training steps left, the step a resumed run starts from) of one label × seed: none
    for a floor, a method that does not train or a finished run of this configuration (with
    ``trainer.marks``: one whose last mark's checkpoint is in ``runs_dir``; marks added to a
    finished run train on; a finished run with cells left and no checkpoint trains again,
    ``work_left``); the spec's steps less those of the run's checkpoint in ``runs_dir`` when
    there is one."""
    from benchmark.methods import METHODS
    from benchmark.runner.job import run_dir
    from benchmark.train.marks import mark_path

    if label in spec.floors:
        return 0, 0
    method = spec.method(label)
    run = store.get_run(spec.name, label, seed)
    stale = run is not None and run.spec_hash != spec.job_hash(label)
    folder = None if runs_dir is None else run_dir(runs_dir, spec, label, seed)
    marks = method.trainer.marks
    work = work_left(spec, store, label, seed, runs_dir)
    continues = work is not None and work.continues_from
    finished = run is not None and run.status == "done" and not stale and not (
        marks and folder is not None and not mark_path(folder, marks[-1]).is_file()) and not (
        work is not None and work.weights_gone)
    if not METHODS.get(method.method).trains or finished:
        return 0, 0
    start = 0 if (stale and not continues) or folder is None else checkpoint_step(folder)
    start = min(start, method.trainer.steps)
    return method.trainer.steps - start, start


# ---------------------------------------------------------------- ``benchmark run --plan``


@dataclass(frozen=True)
class PlannedJob:
    """One label × seed of a plan: what the store holds and what would run.

    Attributes:
        benchmark, label, seed: the job.
        trains: training steps to run (0: trained already, a floor, or a method that does not
            train), after the checkpoint a resumed run starts from.
        resumes: the checkpoint's step a resumed run starts from (0: from the start).
        cells_left, cells: evaluation cells to compute, of the spec's.
        stale: the stored run came from another configuration (it would be retrained).
        train_seconds, eval_seconds: estimates from the timing probe (None: not estimated).
        precision: the precision the evaluation embeds in, resolved on the plan's device.
        marks: the run's compute marks (CPU-minutes): it trains until the last one, not for
            ``trains`` steps (the cap).
        reused_from: the benchmark of ``spec.reuse`` whose finished job it is ("" if none).
        weights_gone: a finished run with cells left whose checkpoint is gone (it would be
            retrained and every cell evaluated again).
        continues_from: the STEP COUNT of this job's run whose checkpoint goes on to the
            spec's (0: none).
    """

    benchmark: str
    label: str
    seed: int
    trains: int
    cells_left: int
    cells: int
    stale: bool
    train_seconds: float | None
    eval_seconds: float | None
    resumes: int = 0
    precision: str = "float32"
    marks: tuple[float, ...] = ()
    reused_from: str = ""
    weights_gone: bool = False
    continues_from: int = 0

    def line(self) -> str:
        """E.g. ``simclr seed 0: train 3000 steps (~13m30s), evaluate 14 of 14 cells in
        float32 (~2m10s)``."""
        if self.reused_from:
            return (f"{self.label} seed {self.seed}: done in {self.reused_from} (the same job: "
                    "its rows would be reused, `reuse:` in the spec)")
        if not self.trains and not self.cells_left:
            return f"{self.label} seed {self.seed}: done (in the store)"
        parts = []
        if self.trains and self.marks:
            parts.append(f"train until {self.marks[-1]:g} CPU-min (marks "
                         f"{', '.join(f'{m:g}' for m in self.marks)})"
                         + (f" from the checkpoint at step {self.resumes}" if self.resumes else "")
                         + _estimate(self.train_seconds))
        elif self.trains:
            resumed = (f" left (resumes at step {self.resumes} of {self.resumes + self.trains})"
                       if self.resumes else "")
            why = (" (stored run of another configuration: retrained)" if self.stale else
                   " (the finished run's checkpoint is gone: retrained, every cell again)"
                   if self.weights_gone else
                   f" (its run of STEP COUNT {self.continues_from} goes on: the training does "
                   "not read the budget; every cell again)" if self.continues_from else "")
            parts.append(f"train {self.trains} steps{resumed}{_estimate(self.train_seconds)}{why}")
        if self.cells_left:
            parts.append(f"evaluate {self.cells_left} of {self.cells} cells in "
                         f"{self.precision}{_estimate(self.eval_seconds)}")
        return f"{self.label} seed {self.seed}: " + ", ".join(parts)


def _estimate(seconds: float | None) -> str:
    from benchmark.bars import clock_text

    return "" if seconds is None else f" (~{clock_text(seconds)})"


@contextmanager
def store_snapshot(store_path: Path) -> Iterator[Store]:
    """A ``Store`` opened on a copy of ``store_path`` (with its write-ahead log) in a temporary
    folder, or on an empty one when there is no store: the real store is never written, not
    even created."""
    with tempfile.TemporaryDirectory(prefix="benchmark-plan-") as folder:
        copy = Path(folder) / "store.sqlite"
        for suffix in ("", "-wal"):
            source = Path(f"{store_path}{suffix}")
            if source.is_file():
                shutil.copyfile(source, f"{copy}{suffix}")
        with Store(copy) as store:
            yield store


def dry_plan(specs: Sequence[BenchmarkSpec], store_path: Path, data_root: Path | None,
             device: str, only: Sequence[str] | None = None,
             probe_steps: int = 3, runs_dir: Path | None = None,
             adopt: Callable[[BenchmarkSpec, Store], list[tuple[str, int, str]]] | None = None,
             ) -> list[PlannedJob]:
    """Every label × seed of ``specs`` (``only`` those labels) with what the store holds and
    what would run, timed by a short probe (``probe_steps`` training steps of each method that
    would train, on ``device``, after one warm-up step; one embedding of a batch of eval images
    for evaluation). A run with a checkpoint in ``runs_dir`` counts the steps left after it; a
    job ``adopt(spec, store)`` copies from a benchmark of ``spec.reuse`` (into a copy of the
    store, returning (label, seed, benchmark) of each) is done. Writes nothing anywhere.

    The evaluation estimate counts the images the frozen heads embed (every stored image
    once, or every episode's images, whichever is fewer); a ``finetune`` cell's own training
    is not counted.
    """
    from benchmark.runner.probe import embed_seconds, step_seconds

    jobs: list[PlannedJob] = []
    step_time: dict[tuple[str, str], float] = {}
    image_time: dict[tuple[str, str], float] = {}
    with store_snapshot(store_path) as store:
        for spec in specs:
            reused = {(label, seed): source for label, seed, source in
                      (adopt(spec, store) if adopt else ())}  # into the copy, as a run would
            for label in spec.labels:
                if only is not None and label not in only:
                    continue
                for seed in spec.seeds:
                    work = work_left(spec, store, label, seed, runs_dir)
                    trains, resumes = (steps_left(spec, store, label, seed, runs_dir)
                                       if work is not None else (0, 0))
                    train_seconds = eval_seconds = None
                    marks = () if label in spec.floors else spec.method(label).trainer.marks
                    if trains and marks:
                        train_seconds = 60.0 * marks[-1]  # at most: a resumed run has less left
                    elif trains:
                        key = (spec.name, label)
                        if key not in step_time:
                            step_time[key] = step_seconds(spec, label, data_root, device, probe_steps)
                        train_seconds = step_time[key] * trains
                    left = work.cells if work is not None else ()
                    if left:
                        key = (spec.name, label)
                        if key not in image_time:
                            image_time[key] = embed_seconds(spec, label, data_root, device)
                        eval_seconds = image_time[key] * _images_embedded(spec, left, data_root)
                    precision = resolve_eval(spec.eval_precision(label), torch.device(device))
                    jobs.append(PlannedJob(spec.name, label, seed, trains, len(left),
                                           len(cells_of(spec, label)),
                                           work is not None and work.stale_hash is not None,
                                           train_seconds, eval_seconds, resumes,
                                           precision.precision, marks,
                                           reused.get((label, seed), ""),
                                           work is not None and work.weights_gone,
                                           work.continues_from if work is not None else 0))
    return jobs


def _images_embedded(spec: BenchmarkSpec, cells: Sequence[Cell], data_root: Path | None) -> int:
    """Images the frozen heads embed to evaluate ``cells``."""
    from benchmark.data import load_split

    total = 0
    for cell in cells:
        if cell.head == "finetune":
            continue
        per_episode = cell.ways * (cell.shots + spec.eval.queries)
        size = len(load_split(cell.eval_dataset, cell.eval_split, data_root))
        total += min(size, spec.eval.episodes_for(cell.head) * per_episode)
    return total


def plan_text(jobs: Sequence[PlannedJob], store_path: Path, device: str) -> str:
    """The ``--plan`` report: one line per job by benchmark, then the totals."""
    lines: list[str] = []
    for name in dict.fromkeys(job.benchmark for job in jobs):
        mine = [job for job in jobs if job.benchmark == name]
        todo = [job for job in mine if job.trains or job.cells_left]
        lines.append(f"{name}: {len(todo)} of {len(mine)} job(s) to run "
                     f"(store {store_path}, device {device})")
        lines += [f"  {job.line()}" for job in mine]
    seconds = sum((job.train_seconds or 0) + (job.eval_seconds or 0) for job in jobs)
    from benchmark.bars import clock_text

    lines.append(f"estimated time: ~{clock_text(seconds)} (training from a short timing probe "
                 "of each method, evaluation from embedding one batch; finetune cells not "
                 "counted). Nothing was written.")
    return "\n".join(lines)
