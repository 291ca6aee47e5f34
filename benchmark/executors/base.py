"""The executor seam: ``Job`` (a plain function call) and the ``Executor`` protocol."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


@dataclass(frozen=True)
class Job:
    """``fn(**kwargs)``, named by ``key`` (e.g. ``(method label, seed)``).

    ``fn`` must be a module-level function and ``kwargs`` picklable, so that an executor can
    run the call in another process or on another machine.
    """

    key: tuple
    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self) -> Any:
        return self.fn(**self.kwargs)


@dataclass(frozen=True)
class Outcome:
    """A finished job: its ``result``, or the ``error`` it raised."""

    job: Job
    result: Any = None
    error: Exception | None = None


def run_here(job: Job) -> Outcome:
    """Run ``job`` in this process: its ``Outcome``, with the error it raised if any (the runner
    decides what an error means)."""
    try:
        return Outcome(job, result=job())
    except Exception as err:  # noqa: BLE001
        return Outcome(job, error=err)


class Executor(Protocol):
    """Runs the driver's jobs and yields their outcomes (in any order).

    An executor is one class registered in ``EXECUTORS``; a Ray or torchrun executor is another
    such class. What it receives:

    - at construction, the options of ``build_executor(name, **options)`` (from
      ``run_file(..., executor=name, executor_options=options)``; ``benchmark run --executor
      NAME`` passes none);
    - in ``run``, the jobs: each ``Job`` a module-level function with picklable keyword
      arguments (the runner's: ``benchmark.runner.run_job`` with the spec, label, seed,
      ``runs_dir``, ``data_root``, the *requested* device name and the cells left), so it may
      run in another process or on another machine; and ``on_start``, the driver's callback.

    What it must hand back: it must call ``on_start(job)`` in the driver's process before it
    starts (or submits) a job, and run the job only when that returns True (False: another
    process holds the job's lease, or has done it meanwhile; the job is dropped, no outcome);
    then, for every job it ran, one ``Outcome`` carrying the job's return value (``result``)
    or the ``Exception`` it raised (``error``, with its attributes), yielded as the job
    finishes. ``KeyboardInterrupt`` and other ``BaseException``s stop the run.

    What only the driver does: claim the job's lease and write the store (``running`` in
    ``on_start``, then each outcome's rows and run record, or ``failed``), the report and the
    progress lines. A job
    resolves its own device where it runs and writes only its run folder under ``runs_dir``,
    which must therefore be storage the workers share when jobs are to resume.
    """

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], bool]) -> Iterator[Outcome]:
        """For each job: call ``on_start(job)`` (in the caller's process); when it returns
        True, run the job and yield its ``Outcome``."""
        ...


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")


def build_executor(name: str = "local", **options: Any) -> Executor:
    """The registered executor ``name``, built with ``options`` (its keyword arguments).

    Raises:
        BenchmarkError: an unknown name, listing the known ones, or an option it does not take.
    """
    accepted = inspect.signature(EXECUTORS.get(name)).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise BenchmarkError(f"executor {name!r} takes no option {', '.join(unknown)} "
                             f"(it takes: {', '.join(accepted) or 'none'})")
    return EXECUTORS.build(name, **options)


def launch(name: str, drive: Callable[[], None]) -> None:
    """Run ``drive`` (the driver: ``runner.run_file``) as executor ``name`` needs: through the
    registered class's ``launch`` when it has one (``torchrun``: rank 0 drives, the other ranks
    follow), else as a plain call.

    Raises:
        BenchmarkError: an unknown name, listing the known ones.
    """
    getattr(EXECUTORS.get(name), "launch", lambda go: go())(drive)
