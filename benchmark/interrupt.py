"""SIGTERM and SIGINT as interruptions that land where it is safe.

``python -m benchmark`` turns SIGTERM into ``Terminated`` (a ``KeyboardInterrupt``), so a
terminated run unwinds as an interrupted one does: the driver marks the jobs in flight failed
(``interrupted by SIGTERM``), every lease is given back and the command ends with one line,
where the default action would kill the process with its lease held and its runs recorded as
``running``.

An exception raised from a signal handler lands between any two bytecodes, also inside a
library's lock, queue or writer thread hand-off (TensorBoard's writer, a file being written):
the unwinding code then waits on a lock nobody will release and the process hangs. So the
loops that run for long (training steps, evaluation episodes) mark themselves
``safe_points()``: within them a signal is held and raised at the loop's next ``stop_point()``
(between two steps, two episodes), and a second signal of the same kind is raised at once (a
step that hangs can still be interrupted). Outside such loops a signal is raised at once, as
before.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""

    def __str__(self) -> str:
        return "SIGTERM"


_state = threading.local()  # per thread: safe-point depth; the handler runs in the main thread
_held: list[KeyboardInterrupt] = []  # the signal held for the next stop point (at most one)


def _depth() -> int:
    return getattr(_state, "depth", 0)


def _interruption_of(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    held_already = any(isinstance(stop, Terminated) == (signum == signal.SIGTERM)
                       for stop in _held)
    if _depth() and not held_already:
        _held.append(_interruption_of(signum))
        return
    if signum == signal.SIGTERM:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a further SIGTERM ends the process at once
    _held.clear()
    raise _interruption_of(signum)


@contextmanager
def interrupts_at_safe_points() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` and SIGINT ``KeyboardInterrupt`` in the
    main thread, at once or, inside ``safe_points()``, at the next ``stop_point()`` (outside
    the main thread: nothing changes); the previous handlers are restored after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _on_signal)
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _held.clear()


@contextmanager
def safe_points() -> Iterator[None]:
    """Mark a loop whose ``stop_point()`` calls are where a signal may interrupt it; a signal
    still held when the block ends normally is raised then."""
    _state.depth = _depth() + 1
    try:
        yield
    finally:
        _state.depth -= 1
    stop_point()


def stop_point() -> None:
    """Raise the interruption held since a signal arrived inside ``safe_points()``, if any."""
    if _held and threading.current_thread() is threading.main_thread():
        stop = _held.pop()
        _held.clear()
        raise stop


#: How a run record's error begins when the run was stopped, not failed (it resumes).
INTERRUPTED = "interrupted by"


def interruption(err: KeyboardInterrupt) -> str:
    """What stopped the process, for a run record: ``interrupted by SIGTERM`` or
    ``interrupted by SIGINT``."""
    return f"{INTERRUPTED} {'SIGTERM' if isinstance(err, Terminated) else 'SIGINT'}"
