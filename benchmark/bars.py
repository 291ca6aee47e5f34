"""Progress of a counted loop (training steps, evaluation episodes): a tqdm bar on a terminal and in a notebook
(``tqdm.auto`` picks tqdm's notebook front end there), one line every ``PERIOD_S`` seconds
elsewhere (a pipe, a CI log), so a long job is never silent.

A line reads ``train: 120/300 steps (40%), 2.1 steps/s, ETA 1m26s, loss=0.5210 acc=0.613``; a
job resumed from a checkpoint says so first (``train: resumed at step 100 of 300``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

#: Seconds between two progress lines where there is no terminal.
PERIOD_S = 30.0


def clock_text(seconds: float) -> str:
    """``1h02m``, ``3m07s``, ``42s``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def interactive(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal or this runs in a notebook kernel."""
    return "ipykernel" in sys.modules or bool(getattr(stream, "isatty", lambda: False)())


class Lines:
    """A tqdm-like counter that writes one progress line every ``period`` seconds (and at the
    end) to ``stream``: ``update``, ``set_postfix``, ``close``."""

    def __init__(self, total: int | None, initial: int = 0, desc: str = "", unit: str = "steps",
                 stream: TextIO | None = None, period: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.n, self.first, self.desc, self.unit = total, initial, initial, desc, unit
        self.stream, self.clock = stream or sys.stderr, clock
        self.period = PERIOD_S if period is None else period
        self.started = self.last = clock()
        self.postfix, self.written = "", False

    def _write(self, text: str) -> None:
        print(f"{self.desc}: {text}", file=self.stream, flush=True)

    def line(self) -> str:
        """The current progress line (without the description)."""
        seconds = self.clock() - self.started
        rate = (self.n - self.first) / seconds if seconds > 0 else 0.0
        if self.total is None:  # a loop that ends on another budget (training CPU-minutes)
            text = f"{self.n} {self.unit}, {rate:.2f} {self.unit}/s"
            return f"{text}, {self.postfix}" if self.postfix else text
        eta = clock_text((self.total - self.n) / rate) if rate > 0 else "?"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        text = (f"{self.n}/{self.total} {self.unit}{share}, {rate:.2f} {self.unit}/s, "
                f"ETA {eta}")
        return f"{text}, {self.postfix}" if self.postfix else text

    def update(self, n: int = 1) -> None:
        """``n`` more done; a line when ``period`` seconds passed since the last one."""
        self.n += n
        if self.clock() - self.last >= self.period:
            self.last, self.written = self.clock(), True
            self._write(self.line())

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        """Values shown at the end of the line (``loss=0.52``)."""
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        """The last line, after periodic ones (a loop shorter than a period stays silent): how
        many were done, in how long."""
        if self.written:
            done = f"{self.n}" if self.total is None else f"{self.n}/{self.total}"
            self._write(f"{done} {self.unit} in "
                        f"{clock_text(self.clock() - self.started)}"
                        + (f", {self.postfix}" if self.postfix else ""))


def progress_bar(total: int | None, initial: int = 0, desc: str = "", show: bool | None = None,
                 stream: TextIO | None = None, unit: str = "steps", note: str = "") -> Any:
    """The progress of a loop of ``total`` steps from ``initial``: nothing when ``show`` is
    False; a tqdm bar when it is True, or None on a terminal or in a notebook; else ``Lines``.
    ``note`` (how the loop runs, e.g. the precision ``auto`` chose) is said first, then, for a
    resumed loop (``initial`` > 0), from which step, whichever is shown. ``total`` None: a loop
    that ends on another budget (a marked training run: its CPU-minutes in the postfix), shown
    without a share or an ETA."""
    stream = stream or sys.stderr
    if show is False:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, disable=True)
    if note:
        print(f"{desc}: {note}", file=stream, flush=True)
    if initial:
        of = "" if total is None else f" of {total}"
        print(f"{desc}: resumed at step {initial}{of}", file=stream, flush=True)
    if show or interactive(stream):
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, file=stream,
                    unit=unit.rstrip("s") or unit)
    return Lines(total, initial, desc, unit, stream=stream)
