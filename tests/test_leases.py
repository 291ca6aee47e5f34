"""Job leases in the store: one live claim per job, taken over once its heartbeat is stale."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.runner.leases import LeaseKeeper
from benchmark.store import Lease, Store


def lease(token: str, pid: int = 1) -> Lease:
    return Lease("quick", "protonet", 0, "abc", host="h", pid=pid, token=token)


def test_a_live_lease_is_not_claimed_twice(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        assert store.claim(lease("a"), stale_after=60) == (True, None)
        claimed, holder = store.claim(lease("b", pid=2), stale_after=60)
        assert not claimed and holder is not None and holder.token == "a"
        assert holder.holder == "pid 1 on host h"
        assert store.claim(lease("a"), stale_after=60)[0]  # the holder may claim again


def test_other_jobs_are_free(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.claim(lease("a"), stale_after=60)
        assert store.claim(replace(lease("b"), seed=1), stale_after=60) == (True, None)
        assert store.claim(replace(lease("b"), method="simclr"), stale_after=60) == (True, None)


def test_a_stale_lease_is_taken_over(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.claim(lease("a"), stale_after=60)
        time.sleep(0.05)
        claimed, previous = store.claim(lease("b", pid=2), stale_after=0.01)
        assert claimed and previous is not None and previous.token == "a"
        assert store.lease("quick", "protonet", 0).token == "b"


def test_heartbeat_keeps_a_lease_alive(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.claim(lease("a"), stale_after=60)
        before = store.lease("quick", "protonet", 0).heartbeat_at
        time.sleep(0.05)
        assert store.heartbeat("a") == 1
        assert store.lease("quick", "protonet", 0).heartbeat_at > before
        assert store.heartbeat("nobody") == 0


def test_release_frees_only_the_holders_lease(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.claim(lease("a"), stale_after=60)
        store.release(lease("b"))  # not the holder: nothing happens
        assert store.lease("quick", "protonet", 0).token == "a"
        store.release(lease("a"))
        assert store.lease("quick", "protonet", 0) is None
        assert store.claim(lease("b"), stale_after=60) == (True, None)


def test_put_results_releases_in_the_same_transaction(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.claim(lease("a"), stale_after=60)
        store.put_results([], None, release=lease("a"))
        assert store.count("leases") == 0


def test_a_version_1_store_gains_the_leases_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE leases")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.claim(lease("a"), stale_after=60) == (True, None)


@pytest.mark.parametrize("timeout, heartbeat, look", [(120.0, 30.0, 1.0), (2.0, 0.5, 0.5),
                                                      (0.1, 0.05, 0.05)])
def test_a_waiting_process_looks_again_within_a_second_whatever_the_timeout(
        tmp_path: Path, timeout: float, heartbeat: float, look: float) -> None:
    """Heartbeats come every quarter of the timeout; a process waiting for jobs held elsewhere
    looks at them at least every second, so a holder that dies or finishes is noticed at once."""
    keeper = LeaseKeeper(tmp_path / "s.sqlite", timeout)
    assert (keeper.interval, keeper.look_interval) == (heartbeat, look)
