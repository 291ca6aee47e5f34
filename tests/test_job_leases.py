"""Job leases across processes: the same spec run twice at once trains every job once; a lease
holder killed mid-job is taken over and its training resumes from the checkpoint; a lease from
another host is taken over only once its heartbeat is older than the timeout.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import sqlite3
import subprocess
import sys
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


@pytest.mark.slow
def test_the_same_spec_run_twice_at_once_trains_every_job_once(tmp_path: Path) -> None:
    steps = 120  # long enough that the second process starts while the first trains
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec("twice", steps, checkpoint_every=20)))
    procs = [_start(tmp_path, spec), _start(tmp_path, spec)]
    outputs = []
    for proc in procs:
        output, _ = proc.communicate(timeout=600)
        outputs.append(output)
        assert proc.returncode == 0, output
    for label in ("protonet", "protoclr"):
        assert _steps(tmp_path / "runs" / "twice" / label / "seed0") == list(range(1, steps + 1))
    trained = [sum(f"twice: {label} seed 0 ..." in out for out in outputs)
               for label in ("random", "protonet", "protoclr")]
    assert trained == [1, 1, 1], outputs  # each job started by exactly one process
    # the two ran at once: one of them met a job the other held or had just done
    assert any(word in out for out in outputs
               for word in ("skipped", "done by another process")), outputs
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        runs = db.execute("SELECT method, status, steps FROM runs").fetchall()
        results = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        leases = db.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
    assert sorted(runs) == [("protoclr", "done", steps), ("protonet", "done", steps)]
    assert results == 3 and leases == 0
    # the table equals a single process's
    alone = tmp_path / "alone"
    alone.mkdir()
    single = _start(alone, spec)
    output, _ = single.communicate(timeout=600)
    assert single.returncode == 0, output
    assert _accuracies(tmp_path / "store.sqlite") == _accuracies(alone / "store.sqlite")


@pytest.mark.slow
def test_a_killed_lease_holder_is_taken_over_and_its_training_resumes(tmp_path: Path) -> None:
    steps = 400
    spec_data = _spec("takeover", steps, checkpoint_every=10)
    spec_data["methods"] = spec_data["methods"][:1]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data))
    run = tmp_path / "runs" / "takeover" / "protonet" / "seed0"
    holder = _start(tmp_path, spec)
    deadline = time.monotonic() + 300
    while not _steps(run) or _steps(run)[-1] < 20:
        assert holder.poll() is None and time.monotonic() < deadline, holder.stdout.read()
        time.sleep(0.05)
    second = _start(tmp_path, spec)
    line = ""
    while "skipped" not in line:  # the second process finds the live lease and leaves the job
        line = second.stdout.readline()
        assert line or second.poll() is None, "the second process ended before skipping"
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


def test_a_lease_from_another_host_is_taken_over_after_the_timeout(
        tmp_path: Path, progress_on_stdout, capsys) -> None:
    from benchmark.spec.file import load_specs

    spec_data = _spec("remote", 2, checkpoint_every=1)
    spec_data["methods"] = spec_data["methods"][:1]
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec_data))
    (spec,) = load_specs(spec_path)
    store = tmp_path / "store.sqlite"
    with Store(store) as s:  # a worker on another machine holds the job, then goes silent
        s.claim(Lease("remote", "protonet", 0, spec.job_hash("protonet"), "elsewhere", 1, "w"), 1)
    timeout = 1.5
    began = time.monotonic()
    runner.run_file(spec_path, store_path=store, runs_dir=tmp_path / "runs",
                    report_dir=tmp_path / "report", device="cpu", lease_timeout=timeout)
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
