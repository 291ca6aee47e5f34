"""Validation curves of a benchmark's training runs: a finished run's as the store keeps it with
its rows (``ValidationCurve``, recorded by the runner from the run's ``metrics.csv``), a running
one's read from its ``metrics.csv``.

A run's folder is found from its run record (``RunRecord.checkpoint``: a checkpoint in the
folder, or the folder itself while the run is running). The time axis is the run's training
wall-clock: the ``seconds`` column, continued over sittings by the trainer. A log written before
the trainer stored its clock in checkpoints restarts at each sitting; where ``seconds`` drops,
the sitting before it is added back (``continuous_seconds``), so the axis never goes back.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark.store import RunRecord, Store, ValidationCurve

METRICS_FILE = "metrics.csv"


@dataclass(frozen=True)
class Curve:
    """One run's validation curve and budget.

    Attributes:
        method, seed: the run (method label × seed).
        steps, minutes, val_acc: one entry per validation (accuracy as a fraction).
        total_steps: steps trained (the run record's, else the log's last step).
        total_minutes: training wall-clock of the whole run (the log's last row, else the run
            record's ``wall_seconds``: the whole run's; records stored before 2026-12-07 hold
            their last sitting's only).
        device, status: the run record's (``done``, or ``running`` for a run under way).
        precision: the precision its steps ran in (the run record's; ``""``: not recorded).
        day: the date the log was last written (``YYYY-MM-DD``), or ``""``.
        missing: why there is no curve (``""`` when there is one).
    """

    method: str
    seed: int
    steps: tuple[int, ...]
    minutes: tuple[float, ...]
    val_acc: tuple[float, ...]
    total_steps: int
    total_minutes: float
    device: str = ""
    precision: str = ""
    status: str = "done"
    day: str = ""
    missing: str = ""

    @property
    def steps_per_second(self) -> float | None:
        """Training steps per training second over the whole run, if its time is known."""
        return self.total_steps / (60 * self.total_minutes) if self.total_minutes > 0 else None


def continuous_seconds(seconds: Sequence[float]) -> list[float]:
    """``seconds`` with every restart of the clock (a value below the one before) continued
    from the value before it."""
    out: list[float] = []
    offset = previous = 0.0
    for value in seconds:
        if value < previous:
            offset += previous
        previous = value
        out.append(offset + value)
    return out


def run_folder(run: RunRecord) -> Path:
    """The folder of ``run``'s checkpoints and metrics."""
    path = Path(run.checkpoint)
    return path.parent if path.suffix == ".pt" else path


NO_VALIDATION = ("no validation yet (none reached, or the spec has no train.val_split or "
                 "trainer.val_every)")


def log_curve(run: RunRecord) -> ValidationCurve | str:
    """The validation curve and budget in ``run``'s ``metrics.csv`` (no entry when it holds no
    validation), or why there is none: no log, or a log without steps."""
    path = run_folder(run) / METRICS_FILE
    if not run.checkpoint or not path.is_file():
        return f"no {METRICS_FILE} at {path}"
    try:
        with path.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if (r.get("step") or "").isdigit()
                    and (r.get("seconds") or "") != ""]
        if not rows:
            return f"{path} holds no steps"
        seconds = continuous_seconds([float(r["seconds"]) for r in rows])
        points = [(int(r["step"]), s, float(r["val_acc"]))
                  for r, s in zip(rows, seconds) if (r.get("val_acc") or "") != ""]
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as err:
        return f"{path} is not a metrics log we can read ({err})"
    steps, at, accs = zip(*points) if points else ((), (), ())
    return ValidationCurve(
        benchmark=run.benchmark, method=run.method, seed=run.seed, spec_hash=run.spec_hash,
        steps=steps, seconds=at, val_acc=accs, total_steps=run.steps or int(rows[-1]["step"]),
        total_seconds=seconds[-1],
        day=time.strftime("%Y-%m-%d", time.localtime(path.stat().st_mtime)))


def read_curve(run: RunRecord, stored: ValidationCurve | None = None) -> Curve:
    """The validation curve of ``run``: ``stored`` (the store's) when the run is done and
    ``stored`` is of its configuration, else read from its ``metrics.csv`` (an empty curve,
    with the reason in ``missing``, when there is no log)."""
    if stored is None or run.status != "done" or stored.spec_hash != run.spec_hash:
        found = log_curve(run)
        if isinstance(found, str):
            return Curve(method=run.method, seed=run.seed, steps=(), minutes=(), val_acc=(),
                         total_steps=run.steps, total_minutes=run.wall_seconds / 60,
                         device=run.device, precision=run.precision, status=run.status,
                         missing=found)
        stored = found
    return Curve(method=run.method, seed=run.seed, steps=stored.steps,
                 minutes=tuple(s / 60 for s in stored.seconds), val_acc=stored.val_acc,
                 total_steps=run.steps or stored.total_steps,
                 total_minutes=stored.total_seconds / 60, device=run.device,
                 precision=run.precision, status=run.status, day=stored.day,
                 missing="" if stored.steps else NO_VALIDATION)


def benchmark_curves(store: Store, benchmark: str,
                     statuses: Sequence[str] = ("done",)) -> list[Curve]:
    """The curves of the training runs of ``benchmark`` whose status is one of ``statuses``
    (default: the finished ones), by method then seed: a finished run's as stored with its
    rows, a running one's (or one stored without it) from its run folder."""
    stored = {(c.method, c.seed): c for c in store.curves(benchmark)}
    runs = [r for r in store.runs(benchmark) if r.status in statuses]
    return [read_curve(r, stored.get((r.method, r.seed)))
            for r in sorted(runs, key=lambda r: (r.method, r.seed))]
