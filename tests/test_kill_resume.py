"""SIGKILL ``python -m benchmark run`` and run it again: the work finishes, nothing finished is
redone, the interrupted training resumes from its checkpoint to the weights of an uninterrupted
run (a momentum method's EMA target and key queue included), and the store holds exactly one
row per result, identical to the uninterrupted run's.

One tiny spec (embedded Omniglot, Conv-4: the random floor, protonet, protoclr, moco), four
processes on one store and runs directory:

1. killed while protonet trains, after a checkpoint past step 0 and before its last step;
2. the same command: resumes protonet, stores its rows, and is killed between jobs
   (protonet's rows are in the store, protoclr has not finished);
3. the same command: finishes protoclr, and is killed while moco trains (past a checkpoint);
4. the same command again: finishes moco only.

The uninterrupted reference runs the same spec in this process (on one thread, like the
killed processes) into another directory.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
import yaml

from benchmark import runner
from benchmark.store import Store

REPO = Path(__file__).resolve().parents[1]
STEPS = {"protonet": 40, "protoclr": 40, "moco": 24}
CHECKPOINT_EVERY = 5
EPISODES = 4
#: 4 labels (random floor, protonet, protoclr, moco) x 1 seed x 1 eval dataset x 1 setting x 1 head.
ROWS = 4

SPEC = {
    "name": "killresume",
    "device": "cpu",
    "seeds": [0],
    "train": {"dataset": "omniglot", "split": "background"},
    "trainer": {"steps": 10, "optimizer": "adam", "lr": 0.001,
                "checkpoint_every": CHECKPOINT_EVERY},
    "methods": [
        {"label": "protonet", "method": "protonet", "backbone": "conv4", "sampler": "labels",
         "ways": 5, "shots": 1, "queries": 2, "trainer": {"steps": STEPS["protonet"]}},
        {"label": "protoclr", "method": "protoclr", "backbone": "conv4", "sampler": "augment",
         "ways": 8, "shots": 1, "queries": 1, "trainer": {"steps": STEPS["protoclr"]}},
        {"label": "moco", "method": "moco", "backbone": "conv4", "sampler": "augment",
         "sampler_options": {"augment_support": False}, "ways": 8, "shots": 1, "queries": 1,
         "params": {"queue_size": 48},
         "trainer": {"steps": STEPS["moco"], "schedule": "cosine"}},
    ],
    "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
             "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
             "episodes": EPISODES, "queries": 3, "seed": 0},
}


def _args(root: Path, spec: Path) -> list[str]:
    return ["run", str(spec), "--store", str(root / "store.sqlite"), "--runs-dir",
            str(root / "runs"), "--report-dir", str(root / "report"), "--device", "cpu"]


def _start(root: Path, spec: Path) -> subprocess.Popen:
    env = {**os.environ, "BENCHMARK_DATA": str(root / "data"), "OMP_NUM_THREADS": "1",
           "MPLCONFIGDIR": str(root / "mpl")}
    return subprocess.Popen([sys.executable, "-m", "benchmark", *_args(root, spec)], env=env,
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 600) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; fail if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"run finished (rc {proc.returncode}) before the kill point:\n"
                        f"{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the kill point was never reached")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def _metric_steps(run: Path) -> list[int]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row.get("step")]


def _metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _stored_rows(store: Path, method: str) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM results WHERE method = ?",
                                (method,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["model"]


def _step(run: Path) -> int:
    return int(torch.load(run / "last.pt", map_location="cpu", weights_only=True)["step"])


def _rows(store: Path) -> dict[tuple, object]:
    with Store(store) as s:
        return {r.key: r for r in s.results(with_episodes=True)}


@pytest.mark.slow
def test_sigkill_during_training_and_between_jobs_then_resume(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    for root in (killed, reference):
        root.mkdir()
    proto = killed / "runs" / "killresume" / "protonet" / "seed0"
    clr = killed / "runs" / "killresume" / "protoclr" / "seed0"
    moco = killed / "runs" / "killresume" / "moco" / "seed0"
    store = killed / "store.sqlite"

    # 1. killed while protonet trains, once a checkpoint past step 0 is on disk.
    first = _start(killed, spec)
    _kill_when(first, lambda: any(CHECKPOINT_EVERY < s < STEPS["protonet"]
                                  for s in _metric_steps(proto)[-1:]))
    resume_step = _step(proto)
    assert 0 < resume_step < STEPS["protonet"] and resume_step % CHECKPOINT_EVERY == 0
    # (a kill during a checkpoint write may leave a .last.pt.*.tmp; last.pt itself is whole)
    assert _stored_rows(store, "random") == 1 and _stored_rows(store, "protonet") == 0
    with Store(store) as s:
        assert s.get_run("killresume", "protonet", 0).status == "running"
        floor_before = {k: r for k, r in _rows(store).items()}

    # 2. the same command: resumes protonet; killed between jobs, once protonet's rows are in.
    second = _start(killed, spec)
    _kill_when(second, lambda: _stored_rows(store, "protonet") == 1)
    proto_done = (proto / "last.pt").stat().st_mtime_ns, (proto / "metrics.csv").read_bytes()
    with Store(store) as s:
        assert s.get_run("killresume", "protonet", 0).status == "done"
        assert s.count("results") == 2

    # 3. the same command: finishes protoclr; killed while moco trains, past a checkpoint.
    third = _start(killed, spec)
    _kill_when(third, lambda: any(CHECKPOINT_EVERY < s < STEPS["moco"]
                                  for s in _metric_steps(moco)[-1:]))
    assert 0 < _step(moco) < STEPS["moco"] and _stored_rows(store, "protoclr") == 1

    # 4. the same command again: only moco is left.
    fourth = subprocess.run([sys.executable, "-m", "benchmark", *_args(killed, spec)],
                           env={**os.environ, "BENCHMARK_DATA": str(killed / "data"),
                                "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": str(killed / "mpl")},
                           cwd=killed, capture_output=True, text=True, timeout=600)
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert "killresume: 1 job(s) to run, 3 already done" in fourth.stdout
    assert "protonet seed 0 ..." not in fourth.stdout and "random seed 0 ..." not in fourth.stdout

    assert not list((killed / "runs").rglob(".*.tmp")), "temporary files left behind"

    # protonet was not redone by the later runs, and the floor's row is the first run's.
    assert ((proto / "last.pt").stat().st_mtime_ns,
            (proto / "metrics.csv").read_bytes()) == proto_done
    after = _rows(store)
    for key, row in floor_before.items():
        assert after[key] == row

    # protonet's log: every step once, the second process starting right after the checkpoint.
    rows = _metrics(proto)
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, STEPS["protonet"] + 1))
    seconds = [float(r["seconds"]) for r in rows]  # one training clock over both sittings
    assert seconds == sorted(seconds) and seconds[resume_step] > 0
    assert _metric_steps(clr) == list(range(1, STEPS["protoclr"] + 1))
    assert _metric_steps(moco) == list(range(1, STEPS["moco"] + 1))

    # the uninterrupted reference: same spec and seed, same final weights and results. On one
    # intra-op thread like the killed processes: CPU float sums depend on the thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.run_file(spec, store_path=reference / "store.sqlite",
                        runs_dir=reference / "runs", report_dir=reference / "report",
                        data_root=reference / "data", device="cpu")
    finally:
        torch.set_num_threads(threads)
    for label in STEPS:
        ours = _weights(killed / "runs" / "killresume" / label / "seed0")
        theirs = _weights(reference / "runs" / "killresume" / label / "seed0")
        assert ours.keys() == theirs.keys()
        if label == "moco":  # the EMA target and the key queue resumed too
            assert any(k.startswith("target_") for k in ours)
            assert {"queue.keys", "queue.ptr"} <= ours.keys()
        for name in ours:
            assert torch.equal(ours[name], theirs[name]), f"{label}: {name} differs"

    expected = _rows(reference / "store.sqlite")
    assert after.keys() == expected.keys() and len(after) == ROWS
    for key, row in expected.items():
        assert after[key].accuracy == row.accuracy, key
        assert after[key].ci95 == row.ci95, key
        assert after[key].episode_accuracies == row.episode_accuracies, key
        assert after[key].steps == row.steps and after[key].spec_hash == row.spec_hash, key
    with Store(store) as s:
        assert s.count("results") == ROWS
        assert s.count("episode_accuracies") == ROWS * EPISODES
        assert {(r.method, r.status, r.steps) for r in s.runs("killresume")} == {
            (label, "done", steps) for label, steps in STEPS.items()}
