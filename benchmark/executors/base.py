"""The executor seam: ``Job`` (a plain function call) and the ``Executor`` protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

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


class Executor(Protocol):
    """Runs jobs and yields their outcomes (in any order)."""

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], None]) -> Iterator[Outcome]:
        """Call ``on_start(job)`` when a job starts (in the caller's process), then run it.

        An ``Exception`` a job raises becomes ``Outcome.error``; ``KeyboardInterrupt`` and
        other ``BaseException``s stop the run.
        """
        ...


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")


def build_executor(name: str = "local", **options: Any) -> Executor:
    """The registered executor ``name``."""
    return EXECUTORS.build(name, **options)
