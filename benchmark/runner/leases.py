"""The driver's job leases: claim a job before it runs, keep the claim alive, give it back.

Every ``benchmark run`` process (or cluster driver) has one token. Before a job starts it
claims the job's lease in the store (``Store.claim``); another process that finds a live lease
skips the job and comes back to it at the end. While this process runs, a thread refreshes the
heartbeat of every lease it holds every quarter of the timeout; while it waits for jobs
held elsewhere it looks at them every ``look_interval`` seconds. A lease whose heartbeat is
older than the timeout, or whose process is gone (same host, no such pid), belongs to a dead
process: it is taken over, and the job resumes from its checkpoint.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

from benchmark.errors import BenchmarkError
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.store import Lease, Store

#: Seconds without a heartbeat after which a lease is taken over.
DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 7 * 24 * 3600.0
#: At most this many seconds between looks at jobs held elsewhere: a holder on this host that
#: dies, or finishes, is noticed within it, whatever the timeout.
MAX_LOOK_INTERVAL_S = 1.0


def check_timeout(seconds: float) -> float:
    """``seconds`` if it is a usable lease timeout; a BenchmarkError otherwise."""
    if not 0 < seconds <= MAX_TIMEOUT_S:  # also refuses NaN
        raise BenchmarkError(f"--lease-timeout must be in (0, {MAX_TIMEOUT_S:g}] seconds, "
                             f"got {seconds}")
    return seconds


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or a pid this platform cannot check
    return True


class LeaseKeeper:
    """This process's leases on one store: ``with LeaseKeeper(store_path) as leases: ...``.

    Entering starts the heartbeat thread; leaving stops it and gives back every lease still
    held (however the run ends: done, failed or interrupted).

    Args:
        store_path: the store the leases live in (the thread opens its own connection).
        timeout: seconds without a heartbeat after which another process takes a lease over.
    """

    def __init__(self, store_path: Path, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.store_path = Path(store_path)
        self.timeout = check_timeout(timeout)
        self.token = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    @property
    def interval(self) -> float:
        """Seconds between heartbeats."""
        return max(0.05, self.timeout / 4)

    @property
    def look_interval(self) -> float:
        """Seconds between looks at jobs held elsewhere, while waiting for them."""
        return min(self.interval, MAX_LOOK_INTERVAL_S)

    def lease(self, spec: BenchmarkSpec, label: str, seed: int) -> Lease:
        """This process's lease on job (``spec``, ``label``, ``seed``)."""
        return Lease(spec.name, label, seed, spec.job_hash(label), self.host, self.pid,
                     self.token)

    def gone(self, other: Lease) -> bool:
        """Whether ``other``'s process is known to be dead (it ran on this host, and its pid
        no longer exists); a lease from another host lives until its heartbeat is stale."""
        return other.host == self.host and not _process_exists(other.pid)

    def claim(self, store: Store, lease: Lease) -> tuple[bool, Lease | None]:
        """``Store.claim`` with this keeper's timeout and dead-process check."""
        return store.claim(lease, self.timeout, self.gone)

    def held_elsewhere(self, store: Store, spec: BenchmarkSpec, label: str,
                       seed: int) -> Lease | None:
        """The live lease another process holds on a job, or None."""
        other = store.lease(spec.name, label, seed)
        if other is None or other.token == self.token:
            return None
        return other if other.alive(time.time(), self.timeout, self.gone) else None

    def _beat(self) -> None:
        with Store(self.store_path) as store:
            while not self._stop.wait(self.interval):
                try:
                    store.heartbeat(self.token)
                except BenchmarkError:
                    continue  # a busy store: the next beat comes within the timeout

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        with Store(self.store_path) as store:
            store.release_all(self.token)
