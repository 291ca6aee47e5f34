"""The local executor: jobs run one after another in this process."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from benchmark.executors.base import EXECUTORS, Job, Outcome, run_here


@EXECUTORS.register("local", "run jobs one after another in this process")
class LocalExecutor:
    """Runs each job in the calling process, in order."""

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], bool]) -> Iterator[Outcome]:
        for job in jobs:
            if not on_start(job):
                continue
            yield run_here(job)
