"""SIGTERM as an interruption: ``python -m benchmark`` turns it into ``Terminated`` (a
``KeyboardInterrupt``), so a terminated run unwinds as an interrupted one does: the driver
marks the jobs in flight failed (``interrupted by SIGTERM``), every lease is given back and the
command ends with one line, where the default action would kill the process with its lease
held and its runs recorded as ``running``."""

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


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread (outside the main
    thread: nothing changes); the previous handler is restored after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interruption(err: KeyboardInterrupt) -> str:
    """What stopped the process, for a run record: ``SIGTERM`` or ``SIGINT``."""
    return "SIGTERM" if isinstance(err, Terminated) else "SIGINT"
