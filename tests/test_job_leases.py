"""Job leases across processes: the same spec run twice at once trains every job once; a lease
holder killed mid-job is taken over and its training resumes from the checkpoint; a lease from
another host is taken over only once its heartbeat is older than the timeout.

The processes meet where the test wants them, not by a race: a process is paused (SIGSTOP)
at the point the other must find it, so the runs can be a few steps long.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from benchmark import runner
from benchmark.store import Lease, Store

EPISODES = 4


def _spec(name: str, steps: int, checkpoint_every: int = 5) -> dict:
    return {
        "name": name,
        "device": "cpu",
        "seeds": [0],
        "train": {"dataset": "omniglot", "split": "background"},
        "trainer": {"steps": steps, "optimizer": "adam", "lr": 0.001,
                    "checkpoint_every": checkpoint_every},
        "methods": [
            {"label": "protonet", "method": "protonet", "backbone": "conv4",
             "sampler": "labels", "ways": 5, "shots": 1, "queries": 2},
            {"label": "protoclr", "method": "protoclr", "backbone": "conv4",
             "sampler": "augment", "ways": 8, "shots": 1, "queries": 1},
        ],
        "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
                 "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
                 "episodes": EPISODES, "queries": 3, "seed": 0},
    }


def _start(root: Path, spec: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "BENCHMARK_DATA": str(root / "data"), "OMP_NUM_THREADS": "1",
           "MPLCONFIGDIR": str(root / "mpl")}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmark", "run", str(spec), "--store", str(root / "store.sqlite"),
         "--runs-dir", str(root / "runs"), "--report-dir", str(root / "report"), *extra],
        env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _steps(run: Path) -> list[int]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row.get("step")]


def _accuracies(store: Path) -> dict[tuple, tuple]:
    with Store(store) as s:
        return {r.key: (r.accuracy, r.ci95, r.episode_accuracies) for r in s.results(with_episodes=True)}


def _read_until(proc: subprocess.Popen, words: str) -> str:
    """``proc``'s output up to and including the first line holding ``words``."""
    seen = []
    while not seen or words not in seen[-1]:
        line = proc.stdout.readline()
        assert line, f"the process ended before printing {words!r}:\n{''.join(seen)}"
        seen.append(line)
    return "".join(seen)


@pytest.mark.slow
def test_the_same_spec_run_twice_at_once_trains_every_job_once(tmp_path: Path,
                                                               one_thread) -> None:
    steps = 30
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec("twice", steps, checkpoint_every=10)))
    first = _start(tmp_path, spec)
    # the second process starts while the first trains protonet (paused mid-training, where
    # it holds the lease and no store transaction, until the second has met it)
    head = _read_until(first, "twice: protonet seed 0 ...")
    protonet = tmp_path / "runs" / "twice" / "protonet" / "seed0"
    while not _steps(protonet):
        assert first.poll() is None, head + first.stdout.read()
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    assert _steps(protonet)[-1] < steps, "the first process finished before it could be paused"
    second = _start(tmp_path, spec)
    try:
        head_second = _read_until(second, "protonet seed 0: running in pid")
    finally:
        first.send_signal(signal.SIGCONT)
    outputs = []
    for proc, seen in ((first, head), (second, head_second)):
        output, _ = proc.communicate(timeout=600)
        outputs.append(seen + output)
        assert proc.returncode == 0, outputs[-1]
    for label in ("protonet", "protoclr"):
        assert _steps(tmp_path / "runs" / "twice" / label / "seed0") == list(range(1, steps + 1))
    trained = [sum(f"twice: {label} seed 0 ..." in out for out in outputs)
               for label in ("random", "protonet", "protoclr")]
    assert trained == [1, 1, 1], outputs  # each job started by exactly one process
    # the two ran at once: one of them met a job the other held or had just done
    assert any(word in out for out in outputs
               for word in ("skipped", "done by another process")), outputs
    # and each counts every job done in the end, the other's too (it stopped short once)
    last = [re.findall(r"twice: (\d)/(\d) jobs done", out)[-1] for out in outputs]
    assert all(done == total for done, total in last), last
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        runs = db.execute("SELECT method, status, steps FROM runs").fetchall()
        results = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        leases = db.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
    assert sorted(runs) == [("protoclr", "done", steps), ("protonet", "done", steps)]
    assert results == 3 and leases == 0
    # the table equals a single process's (run here, on one thread like the two processes)
    alone = tmp_path / "alone"
    runner.run_file(spec, store_path=alone / "store.sqlite", runs_dir=alone / "runs",
                    report_dir=alone / "report", data_root=alone / "data", device="cpu")
    assert _accuracies(tmp_path / "store.sqlite") == _accuracies(alone / "store.sqlite")


@pytest.mark.slow
def test_a_killed_lease_holder_is_taken_over_and_its_training_resumes(tmp_path: Path) -> None:
    steps = 80
    spec_data = _spec("takeover", steps, checkpoint_every=10)
    spec_data["methods"] = spec_data["methods"][:1]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data))
    run = tmp_path / "runs" / "takeover" / "protonet" / "seed0"
    holder = _start(tmp_path, spec)
    deadline = time.monotonic() + 300
    while not _steps(run) or _steps(run)[-1] < 20:
        assert holder.poll() is None and time.monotonic() < deadline, holder.stdout.read()
        time.sleep(0.02)
    holder.send_signal(signal.SIGSTOP)  # alive, mid-job, past a checkpoint
    assert _steps(run)[-1] < steps, "the holder finished before it could be paused"
    second = _start(tmp_path, spec)
    # the second process finds the live lease and leaves the job
    line = _read_until(second, "skipped").splitlines()[-1]
    assert f"running in pid {holder.pid} on host {socket.gethostname()}, skipped" in line
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    output, _ = second.communicate(timeout=600)
    assert second.returncode == 0, output
    assert f"taking over from pid {holder.pid} on host {socket.gethostname()} " \
           "(its process is gone)" in output
    logged = _steps(run)
    assert logged == list(range(1, steps + 1))  # every step once: resumed, not restarted
    with Store(tmp_path / "store.sqlite") as s:
        assert s.get_run("takeover", "protonet", 0).status == "done"
        assert s.count("leases") == 0 and s.count("results") == 2


@pytest.fixture
def progress_on_stdout():
    """The CLI's progress lines on stdout, for a ``run_file`` called in this process."""
    import logging

    from benchmark import cli

    logger = logging.getLogger("benchmark")
    before = list(logger.handlers)
    cli.log_to_stdout()
    yield
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)


class _Seen(logging.Handler):
    """Sets ``event`` once a log message holds ``words``."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words, self.event = words, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


def _beat_until(store: Path, token: str, stop: threading.Event) -> None:
    """Refresh ``token``'s leases every 0.1 s until ``stop`` is set."""
    with Store(store) as s:
        while not stop.wait(0.1):
            s.heartbeat(token)


def test_a_lease_from_another_host_is_taken_over_after_the_timeout(
        tmp_path: Path, progress_on_stdout, capsys) -> None:
    from benchmark.spec.file import load_specs

    spec_data = _spec("remote", 2, checkpoint_every=1)
    spec_data["methods"] = spec_data["methods"][:1]
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec_data))
    (spec,) = load_specs(spec_path)
    store = tmp_path / "store.sqlite"
    with Store(store) as s:  # a worker on another machine holds the job ...
        s.claim(Lease("remote", "protonet", 0, spec.job_hash("protonet"), "elsewhere", 1, "w"), 1)
    seen = _Seen("running in pid 1 on host elsewhere, skipped")
    logging.getLogger("benchmark").addHandler(seen)
    beating = threading.Thread(target=_beat_until, args=(store, "w", seen.event), daemon=True)
    beating.start()  # ... heartbeating until this process has seen its lease, then silent
    timeout = 1.5
    began = time.monotonic()
    try:
        runner.run_file(spec_path, store_path=store, runs_dir=tmp_path / "runs",
                        report_dir=tmp_path / "report", device="cpu", lease_timeout=timeout)
    finally:
        seen.event.set()
        beating.join()
        logging.getLogger("benchmark").removeHandler(seen)
    waited = time.monotonic() - began
    out = capsys.readouterr().out
    assert "remote: protonet seed 0: running in pid 1 on host elsewhere, skipped" in out
    assert "remote: waiting for 1 job(s) running in other processes" in out
    assert "remote: protonet seed 0: taking over from pid 1 on host elsewhere (no heartbeat" in out
    assert waited >= timeout
    with Store(store) as s:
        assert s.get_run("remote", "protonet", 0).status == "done"
        assert s.count("leases") == 0


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "1e9"])
def test_a_bad_lease_timeout_is_refused(tmp_path: Path, seconds: str) -> None:
    from benchmark import cli

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec("bad", 1)))
    code = cli.main(["run", str(spec), "--store", str(tmp_path / "s.sqlite"), "--runs-dir",
                     str(tmp_path / "runs"), "--lease-timeout", seconds])
    assert code == 2
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "runs").exists()
