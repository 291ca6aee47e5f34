"""The torchrun executor: every training job runs on all the ranks of a ``torchrun`` launch.

``torchrun --nproc_per_node=N -m benchmark run SPEC --executor torchrun`` starts N copies of
the command. ``launch`` joins them into one process group (``benchmark.distributed.init``):
rank 0 is the driver (checks, plans, claims leases, writes the store and the report) and
hands each training job to the other ranks (``broadcast_object``), which train it with it
under DistributedDataParallel (``benchmark.train.loop``) and evaluate nothing; rank 0 alone
evaluates and returns the rows. The random-init floor needs no training and runs on rank 0
alone. A spec's ``ways`` is the global batch: each rank draws ``ways / N`` (a world size that
does not divide it is refused before any work).
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator, Sequence

from benchmark import distributed
from benchmark.errors import BenchmarkError
from benchmark.executors.base import EXECUTORS, Job, Outcome, run_here

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())


def _trains(job: Job) -> bool:
    """Whether the job trains (the other ranks take part) or only builds the floor."""
    spec = job.kwargs.get("spec")
    return spec is None or job.kwargs.get("label") not in spec.floors


@EXECUTORS.register("torchrun", "train each job on all the ranks of a torchrun launch "
                                "(DistributedDataParallel; rank 0 drives)")
class TorchrunExecutor:
    """Rank 0's executor: runs each job here, with the other ranks training alongside.

    Raises:
        BenchmarkError: not inside ``launch`` (no process group).
    """

    def __init__(self) -> None:
        if distributed.rank() != 0 or not distributed.launched():
            raise BenchmarkError("the torchrun executor runs under torchrun: torchrun "
                                 "--nproc_per_node=N -m benchmark run SPEC --executor torchrun")

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], bool]) -> Iterator[Outcome]:
        for job in jobs:
            if not on_start(job):
                continue
            if _trains(job):
                distributed.broadcast_object(job)
            yield run_here(job)

    @staticmethod
    def launch(drive: Callable[[], None]) -> None:
        """Join torchrun's process group; rank 0 runs ``drive`` (the driver), the other ranks
        ``follow`` it until it is done (or has failed)."""
        distributed.init()
        try:
            if distributed.rank() == 0:
                try:
                    drive()
                finally:
                    distributed.broadcast_object(None)
            else:
                follow()
        finally:
            distributed.shutdown()


def follow() -> None:
    """A rank > 0: train every job rank 0 hands over (no evaluation, no store), until it
    hands over None. A job's error is rank 0's to record; this rank goes on to the next."""
    while True:
        job = distributed.broadcast_object(None)
        if job is None:
            return
        try:
            job.fn(**{**job.kwargs, "cells": ()})
        except Exception as err:  # noqa: BLE001 (recorded by rank 0, which raised it too)
            log.warning("rank %d: %s failed: %s", distributed.rank(), job.key, err)
