"""The runner's progress lines, on the ``benchmark.runner.progress`` logger.

``python -m benchmark`` shows them on stdout as plain messages (``benchmark.cli``); a library
user sees nothing unless they configure logging (e.g. ``logging.basicConfig(level="INFO")``).
A failed job is a WARNING, every other line INFO.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from benchmark.bars import clock_text
from benchmark.executors.base import Outcome
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.store import Lease, ResultRow

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # no "last resort" stderr output without a configuration


def configuration_changed(spec: BenchmarkSpec, label: str, seed: int, old_hash: str,
                          moved: Path | None) -> None:
    """A stored run came from another configuration: it is retrained (the old one kept)."""
    log.info("%s: %s seed %s: configuration changed (spec hash %s -> %s); retraining%s",
             spec.name, label, seed, old_hash, spec.job_hash(label),
             f", previous run kept in {moved}" if moved else "")


def stage_read(line: str) -> None:
    """A method's STEP COUNT was read from a stage-1 run (``benchmark.runner.stages``)."""
    log.info("%s", line)


def weights_gone(spec: BenchmarkSpec, label: str, seed: int, folder: Path) -> None:
    """A finished run lacks cells and its checkpoint is gone: trained again, every cell
    evaluated again (no row of another training beside them)."""
    log.info("%s: %s seed %s: cells to evaluate, but the run's checkpoint is not in %s; "
             "retraining and evaluating every cell again", spec.name, label, seed, folder)


def planned(spec: BenchmarkSpec, jobs: int, left_out: int, store_path: Path, device: str) -> None:
    """The work left for ``spec`` and where it goes; ``left_out``: unfinished jobs ``--only``
    did not select (neither run here nor done)."""
    done = len(spec.labels) * len(spec.seeds) - jobs - left_out
    log.info("%s: %d job(s) to run, %d already done%s (store %s, device %s)", spec.name, jobs,
             done, f", {left_out} not selected by --only" if left_out else "", store_path,
             device)


def skipped(spec: BenchmarkSpec, label: str, seed: int, holder: Lease) -> None:
    """Another live process holds the job's lease: it is left to that process for now."""
    log.info("%s: %s seed %s: running in %s, skipped", spec.name, label, seed, holder.holder)


def taken_over(spec: BenchmarkSpec, label: str, seed: int, holder: Lease, gone: bool) -> None:
    """The job's lease belonged to a dead process: this one takes the job over."""
    reason = ("its process is gone" if gone
              else f"no heartbeat for {time.time() - holder.heartbeat_at:.0f} s")
    log.info("%s: %s seed %s: taking over from %s (%s)", spec.name, label, seed,
             holder.holder, reason)


def done_elsewhere(spec: BenchmarkSpec, label: str, seed: int) -> None:
    """Another process finished the job while this one was busy."""
    log.info("%s: %s seed %s: done by another process", spec.name, label, seed)


def waiting(spec: BenchmarkSpec, jobs: int) -> None:
    """What is left is being run by other processes: this one waits for them."""
    log.info("%s: waiting for %d job(s) running in other processes", spec.name, jobs)


def started(spec: BenchmarkSpec, label: str, seed: int) -> None:
    """A job starts."""
    log.info("%s: %s seed %s ...", spec.name, label, seed)


def finished(spec: BenchmarkSpec, label: str, seed: int, rows: Sequence[ResultRow]) -> None:
    """A job's rows are stored: every cell's accuracy (at its mark, for a marked run)."""
    best = ", ".join(f"{r.eval_dataset}/{r.eval_split} {r.ways}w{r.shots}s {r.head}"
                     + (f" at {r.mark:g} CPU-min" if r.mark else "")
                     + f": {100 * r.accuracy:.2f}" for r in rows)
    log.info("%s: %s seed %s done (%s)", spec.name, label, seed,
             best or "nothing left to evaluate")


def failed(spec: BenchmarkSpec, label: str, seed: int, message: str) -> None:
    """A job failed (recorded in the store; the other jobs go on)."""
    log.warning("%s: %s seed %s FAILED: %s", spec.name, label, seed, message)


class Overall:
    """The progress line across a spec's jobs, logged as each job ends (beside each job's own
    progress): ``quick: 2/5 jobs done, elapsed 3m12s, ETA 4m48s``.

    The ETA is this process's work: the training steps left over the measured step rate (the
    steps and training seconds of the jobs done), plus the mean evaluation time of a job done
    times the jobs left here; ``?`` while steps are left and none has been timed (after the
    untrained floor). Jobs another process holds are not in it (``away``): the line says how
    many run elsewhere, and they count as done when their holder finishes them."""

    def __init__(self, spec: BenchmarkSpec, steps: Mapping[tuple[str, int], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec, self.steps, self.clock = spec, dict(steps), clock
        self.total, self.done = len(steps), 0
        self.away: set[tuple[str, int]] = set()
        self.trained_steps, self.train_seconds, self.eval_seconds = 0, 0.0, 0.0
        self.started = clock()

    def eta(self) -> str:
        """The time left for this process's jobs, or ``?`` when it cannot be measured yet."""
        steps = sum(self.steps.values())
        if steps and not self.trained_steps:
            return "?"
        left = self.total - self.done - len(self.away)
        training = steps * self.train_seconds / self.trained_steps if steps else 0.0
        evaluating = self.eval_seconds / self.done * left if self.done else 0.0
        return clock_text(training + evaluating) if self.done or not left else "?"

    def line(self) -> str:
        """The current line."""
        away = f" ({len(self.away)} running elsewhere)" if self.away else ""
        return (f"{self.spec.name}: {self.done}/{self.total} jobs done{away}, elapsed "
                f"{clock_text(self.clock() - self.started)}, ETA {self.eta()}")

    def held_elsewhere(self, key: tuple[str, int]) -> None:
        """Another live process holds job ``key``: its steps leave this process's ETA."""
        self.away.add(key)
        self.steps.pop(key, None)

    def taken_back(self, key: tuple[str, int], steps: int) -> None:
        """Job ``key`` runs here after all (its holder died or gave it back): ``steps`` left."""
        self.away.discard(key)
        self.steps[key] = steps

    def done_elsewhere(self, key: tuple[str, int]) -> None:
        """Another process finished job ``key``: one more done; log the line."""
        self.away.discard(key)
        self.steps.pop(key, None)
        self.done += 1
        log.info("%s", self.line())

    def job_done(self, outcome: Outcome) -> None:
        """One more job ended here (finished or failed): count its measured training steps and
        seconds and its evaluation seconds, and log the line."""
        self.done += 1
        key = outcome.job.key
        self.away.discard(key)
        steps = self.steps.pop(key, 0)
        result = outcome.result
        if outcome.error is None and result is not None:
            run = result.run
            if steps and run is not None and run.wall_seconds > 0:
                self.trained_steps += steps
                self.train_seconds += run.wall_seconds * steps / max(run.steps, steps)
            self.eval_seconds += sum(r.eval_seconds for r in result.rows)
        log.info("%s", self.line())


def elsewhere(out: Path) -> None:
    """A run with --set or --only is not the file's: its report goes to ``out``."""
    log.info("--set/--only: this run is not the file's, so its report goes to %s, not over "
             "the file's report (--report-dir chooses the folder)", out)


def reported(markdown: str, files: Iterable[Path]) -> None:
    """A benchmark's report: its Markdown table and the files written."""
    log.info("%s", markdown)
    log.info("wrote %s", ", ".join(str(p) for p in files))
