"""Two ``python -m benchmark run`` processes on different specs write one store at once and
lose nothing: every row of both benchmarks is there, once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EPISODES = 6
SETTINGS = [{"ways": 5, "shots": 1}, {"ways": 5, "shots": 2}]
HEADS = ["prototype", "prototype_cosine"]


def _spec(name: str, steps: int) -> dict:
    return {
        "name": name,
        "device": "cpu",
        "seeds": [0, 1],
        "train": {"dataset": "omniglot", "split": "background"},
        "trainer": {"steps": steps, "optimizer": "adam", "lr": 0.001, "checkpoint_every": 2},
        "methods": [{"label": "protonet", "method": "protonet", "backbone": "conv4",
                     "sampler": "labels", "ways": 5, "shots": 1, "queries": 2}],
        "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
                 "settings": SETTINGS, "heads": HEADS, "episodes": EPISODES, "queries": 3,
                 "seed": 0},
    }


@pytest.mark.slow
def test_two_runs_write_one_store_concurrently(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    env = {**os.environ, "BENCHMARK_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1",
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    procs = []
    for name, steps in (("concurrent_a", 6), ("concurrent_b", 4)):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(yaml.safe_dump(_spec(name, steps)))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "benchmark", "run", str(spec), "--store", str(store),
             "--runs-dir", str(tmp_path / "runs"), "--report-dir", str(tmp_path / name)],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output
    # per benchmark: (protonet + random floor) x 2 seeds x 2 settings x 2 heads
    per_benchmark = 2 * 2 * len(SETTINGS) * len(HEADS)
    with sqlite3.connect(store) as db:
        counts = dict(db.execute("SELECT benchmark, COUNT(*) FROM results GROUP BY benchmark"))
        distinct = db.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT benchmark, method, seed, shots, head FROM results)"
        ).fetchone()[0]
        episodes = db.execute("SELECT COUNT(*) FROM episode_accuracies").fetchone()[0]
        runs = dict(db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
    assert counts == {"concurrent_a": per_benchmark, "concurrent_b": per_benchmark}
    assert distinct == 2 * per_benchmark
    assert episodes == 2 * per_benchmark * EPISODES
    assert runs == {"done": 4}  # protonet x 2 seeds x 2 benchmarks (the floor trains nothing)
