"""The Ray executor: each (label, seed) job is a Ray task; the driver alone writes the store.

``benchmark run SPEC --executor ray [--address auto|HOST:PORT]`` (``pip install '.[ray]'``).
Without an address a Ray instance is started on this machine (or the one this process already
joined is used); ``auto`` joins the cluster ``ray start`` made here, ``HOST:PORT`` a remote one.

Each job asks Ray for ``cpus`` CPUs and ``gpus`` GPUs (default: 1 GPU when the job's device
is ``cuda``, else none). At most ``workers`` jobs are in flight (default: as many as the
cluster's CPUs hold); the driver claims a job's lease just before it submits it, so the jobs
still queued here stay free for other processes. A task whose worker dies (killed, out of
memory, node lost) is run again once by Ray, and resumes from its last checkpoint; lost twice,
it is recorded as failed. An exception the job raises is not retried (the same seed and
checkpoint would raise it again): it comes back to the driver with its message, step, device
and checkpoint, as from the local executor.

Shared state: a job writes only its run folder under ``runs_dir``, which must be on a
filesystem every node sees at the same path (NFS, a cluster volume) for jobs to resume on
another node; each node reads data from its own cache (``--data-root`` or
``$BENCHMARK_DATA``): the embedded Omniglot needs nothing, other datasets must be prepared on
every node (``benchmark datasets prepare``) or live on the shared filesystem. The package
itself must be importable on every node (the same install; a local Ray inherits this
process's environment).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from benchmark.errors import BenchmarkError
from benchmark.executors.base import EXECUTORS, Job, Outcome

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

#: The attributes of a job's exception that the driver's failure record uses.
ERROR_ATTRIBUTES = ("step", "device", "checkpoint")
#: Times Ray runs a task again after its worker died.
RETRIES = 1
#: Terminal colour codes in Ray's error texts.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class _Failure:
    """A job's exception, as plain values (exceptions with extra ``__init__`` arguments, such
    as ``DivergedError``, do not survive pickling)."""

    kind: str
    message: str
    benchmark_error: bool
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, err: Exception) -> "_Failure":
        attributes = {k: getattr(err, k) for k in ERROR_ATTRIBUTES if hasattr(err, k)}
        return cls(type(err).__name__, str(err), isinstance(err, BenchmarkError),
                   {k: (str(v) if k == "checkpoint" and v is not None else v)
                    for k, v in attributes.items()})

    def rebuild(self) -> Exception:
        """A ``BenchmarkError`` (recorded as failed, the run goes on) or, for any other
        exception, a ``RuntimeError`` naming its type (which stops the run, as locally)."""
        err: Exception = (BenchmarkError(self.message) if self.benchmark_error
                          else RuntimeError(f"{self.kind}: {self.message}"))
        for key, value in self.attributes.items():
            setattr(err, key, value)
        return err


def attempt(job: Job) -> tuple[Any, _Failure | None]:
    """Run ``job`` where Ray put it: ``(result, None)``, or ``(None, failure)``."""
    try:
        return job(), None
    except Exception as err:  # noqa: BLE001 (the driver decides what an error means)
        return None, _Failure.of(err)


def absolute(job: Job) -> Job:
    """``job`` with every ``Path`` argument made absolute: a Ray worker's working directory is
    not the driver's."""
    return replace(job, kwargs={k: v.absolute() if isinstance(v, Path) else v
                                for k, v in job.kwargs.items()})


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BenchmarkError("the ray executor needs Ray: pip install '.[ray]' "
                             "(or pip install ray)") from None
    return ray


def _check_count(name: str, value: float | None, minimum: float) -> None:
    if value is not None and not value >= minimum:  # also refuses NaN
        raise BenchmarkError(f"ray executor: {name} must be >= {minimum:g}, got {value}")


@EXECUTORS.register("ray", "run jobs as Ray tasks, locally or on a Ray cluster "
                           "(pip install '.[ray]')")
class RayExecutor:
    """Runs jobs as Ray tasks and yields their outcomes as they finish.

    Args:
        address: the Ray cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``);
            None: the one this process already joined, or a new local one.
        cpus: CPUs each job asks for.
        gpus: GPUs each job asks for; None: 1 when the job's device is ``cuda``, else 0.
        workers: at most this many jobs in flight; None: the cluster's CPUs // ``cpus``.

    Raises:
        BenchmarkError: Ray is not installed, a bad count, or the cluster cannot be joined.
    """

    def __init__(self, address: str | None = None, cpus: float = 1.0, gpus: float | None = None,
                 workers: int | None = None) -> None:
        _check_count("cpus", cpus, 0)
        _check_count("gpus", gpus, 0)
        _check_count("workers", workers, 1)
        self.ray = _import_ray()
        self.cpus, self.gpus = float(cpus), gpus
        if not self.ray.is_initialized():
            try:
                self.ray.init(address=address, logging_level=logging.WARNING,
                              log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as err:
                where = address or "a local Ray"
                raise BenchmarkError(f"cannot start or join {where}: "
                                     f"{' '.join(str(err).split())}") from None
        total = self.ray.cluster_resources().get("CPU", 1.0)
        self.workers = int(workers) if workers is not None else max(
            1, int(total // self.cpus) if self.cpus > 0 else int(total))
        self._remote = self.ray.remote(attempt)

    def _gpus(self, job: Job) -> float:
        if self.gpus is not None:
            return float(self.gpus)
        return 1.0 if str(job.kwargs.get("device", "")).startswith("cuda") else 0.0

    def _submit(self, job: Job) -> Any:
        return self._remote.options(num_cpus=self.cpus, num_gpus=self._gpus(job),
                                    max_retries=RETRIES, retry_exceptions=False,
                                    name=f"benchmark:{'/'.join(map(str, job.key))}"
                                    ).remote(absolute(job))

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], bool]) -> Iterator[Outcome]:
        """Submit jobs (each once ``on_start`` has claimed it) while fewer than ``workers``
        are in flight; yield each outcome as its task finishes."""
        queued = list(jobs)
        running: dict[Any, Job] = {}
        done = 0
        while queued or running:
            while queued and len(running) < self.workers:
                job = queued.pop(0)
                if on_start(job):
                    running[self._submit(job)] = job
                    self._progress(done, len(running), len(queued))
            if not running:
                continue
            ready, _ = self.ray.wait(list(running), num_returns=1)
            job = running.pop(ready[0])
            done += 1
            yield self._outcome(job, ready[0])
            self._progress(done, len(running), len(queued))

    def _outcome(self, job: Job, ref: Any) -> Outcome:
        try:
            result, failure = self.ray.get(ref)
        except self.ray.exceptions.RayError as err:  # e.g. the worker died on every attempt
            text = ANSI.sub("", str(err)).strip()
            first = text.splitlines()[0] if text else ""
            lost = BenchmarkError(f"lost on Ray ({type(err).__name__}: {first}; a dead worker "
                                  f"is retried {RETRIES} time(s))")
            return Outcome(job, error=lost)
        if failure is not None:
            return Outcome(job, error=failure.rebuild())
        return Outcome(job, result=result)

    @staticmethod
    def _progress(done: int, running: int, queued: int) -> None:
        log.info("ray: %d job(s) done, %d running, %d queued (%s)", done, running, queued,
                 time.strftime("%H:%M:%S"))
