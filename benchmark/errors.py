"""The one exception type the CLI turns into a clear error line and exit code 2."""

from __future__ import annotations

from typing import Iterable


class BenchmarkError(Exception):
    """A user-facing error: bad input (spec, dataset, archive, N/K/Q, checkpoint, store).

    The message is one line that names the problem; the CLI prints it as
    ``error: <message>`` on stderr and exits with code 2, without a traceback.
    """


def refuse_unknown(owner: str, noun: str, given: Iterable[str], known: Iterable[str]) -> None:
    """BenchmarkError naming every name of ``given`` not in ``known``, e.g.
    ``train config: unknown key(s) lrate (known: lr, steps)``; nothing when all are known."""
    known = list(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise BenchmarkError(
            f"{owner}: unknown {noun}(s) {', '.join(unknown)} (known: {', '.join(known) or 'none'})"
        )


class RunsFailed(BenchmarkError):
    """Some training or evaluation runs failed (each is recorded in the store): the CLI exits
    with code 1, not 2 (the input was not refused)."""
