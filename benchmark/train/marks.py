"""Training compute marks: the run's CPU clock and the checkpoints kept at stated CPU-minutes.

A run with ``TrainConfig.marks`` (CPU-minutes) keeps ``mark_<m>.pt`` the first step its CPU
clock reaches each mark and stops at the last one. The clock is the training process's CPU
time (``time.process_time``, injectable for tests), validation left out, and summed over the
run's sittings: every checkpoint stores it as ``cpu_seconds`` and a resumed run continues from
there. CPU time, not wall-clock, so that two jobs sharing a busy machine get the same budget
as one alone; with one torch thread a job, a CPU-minute is a core-minute.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from benchmark.errors import BenchmarkError

#: A clock in seconds of CPU time (``time.process_time``, or a test's fake).
CpuTimer = Callable[[], float]


def mark_path(run_dir: Path, mark: float) -> Path:
    """Where the checkpoint of ``mark`` CPU-minutes lives: ``run_dir/mark_<m>.pt``
    (``mark_1.pt``, ``mark_0.5.pt``)."""
    return Path(run_dir) / f"mark_{mark:g}.pt"


def mark_label(mark: float) -> str:
    """How a report names a mark: ``3 CPU-min``."""
    return f"{mark:g} CPU-min"


class CpuClock:
    """The run's training CPU seconds: ``offset`` (the sittings before) plus this process's
    CPU time since ``start``, less the time spent inside ``paused()`` (validation)."""

    def __init__(self, offset: float = 0.0, timer: CpuTimer | None = None) -> None:
        self.timer = timer or time.process_time  # (looked up now: a test may replace it)
        self.offset = offset
        self.started = self.timer()
        self.excluded = 0.0

    def seconds(self) -> float:
        """Training CPU seconds so far, over all sittings."""
        return self.offset + self.timer() - self.started - self.excluded

    def minutes(self) -> float:
        return self.seconds() / 60.0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Leave what runs inside out of the clock."""
        began = self.timer()
        try:
            yield
        finally:
            self.excluded += self.timer() - began


class Marks:
    """The marks of a run not yet kept (those without a ``mark_<m>.pt`` in ``run_dir``).

    Raises:
        BenchmarkError: a mark not kept lies before the clock of the checkpoint resumed from
            (marks can only be added after the run's present clock).
    """

    def __init__(self, marks: Sequence[float], run_dir: Path, minutes_now: float) -> None:
        self.all = tuple(marks)
        self.pending = [m for m in self.all if not mark_path(run_dir, m).exists()]
        passed = [m for m in self.pending if m <= minutes_now]
        if passed:
            raise BenchmarkError(
                f"{run_dir}: mark(s) {', '.join(f'{m:g}' for m in passed)} CPU-min lie before "
                f"the checkpoint resumed from ({minutes_now:.2f} CPU-min); marks can only be "
                "added after it (or start the run over in another folder)")

    def due(self, minutes: float) -> list[float]:
        """The pending marks reached at ``minutes``; they are no longer pending."""
        reached = [m for m in self.pending if m <= minutes]
        self.pending = [m for m in self.pending if m > minutes]
        return reached

    @property
    def finished(self) -> bool:
        """Whether the run has marks and has kept them all (it stops)."""
        return bool(self.all) and not self.pending
