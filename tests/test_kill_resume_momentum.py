"""SIGKILL ``python -m benchmark run`` while MoCo, then BYOL, then PsCo train; run it again
each time: every training resumes from its checkpoint to the weights of an uninterrupted run,
EMA target and key queue included (torch.equal). The helpers are tests/test_kill_resume.py's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from benchmark import runner
from test_kill_resume import _args, _kill_when, _metric_steps, _start, _step, _weights

STEPS, CHECKPOINT_EVERY = 24, 5
LABELS = ("moco", "byol", "psco")
SPEC = {
    "name": "killmomentum",
    "device": "cpu",
    "seeds": [0],
    "train": {"dataset": "omniglot", "split": "background"},
    "trainer": {"steps": STEPS, "optimizer": "adam", "lr": 0.001, "schedule": "cosine",
                "checkpoint_every": CHECKPOINT_EVERY},
    "methods": [
        {"label": label, "method": label, "backbone": "conv4", "sampler": "augment",
         "sampler_options": {"augment_support": False}, "ways": 8, "shots": 1, "queries": 1,
         "params": params}
        for label, params in (("moco", {"queue_size": 48}), ("byol", {}),
                              ("psco", {"queue_size": 64, "num_shots": 2}))],
    "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
             "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
             "episodes": 4, "queries": 3, "seed": 0},
}


@pytest.mark.slow
def test_sigkill_during_each_momentum_training_then_resume(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    for root in (killed, reference):
        root.mkdir()
    runs = killed / "runs" / "killmomentum"
    for label in LABELS:  # killed once in the middle of each training
        proc = _start(killed, spec)
        _kill_when(proc, lambda: any(CHECKPOINT_EVERY < s < STEPS
                                     for s in _metric_steps(runs / label / "seed0")[-1:]))
        assert 0 < _step(runs / label / "seed0") < STEPS
    done = subprocess.run([sys.executable, "-m", "benchmark", *_args(killed, spec)],
                          env={**os.environ, "BENCHMARK_DATA": str(killed / "data"),
                               "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": str(killed / "mpl")},
                          cwd=killed, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for label in LABELS:
        assert _metric_steps(runs / label / "seed0") == list(range(1, STEPS + 1))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.run_file(spec, store_path=reference / "store.sqlite", runs_dir=reference / "runs",
                        report_dir=reference / "report", data_root=reference / "data",
                        device="cpu")
    finally:
        torch.set_num_threads(threads)
    for label in LABELS:
        ours = _weights(runs / label / "seed0")
        theirs = _weights(reference / "runs" / "killmomentum" / label / "seed0")
        assert ours.keys() == theirs.keys()
        assert any(k.startswith("target_") for k in ours)
        assert label == "byol" or {"queue.keys", "queue.ptr"} <= ours.keys()
        for name in ours:
            assert torch.equal(ours[name], theirs[name]), f"{label}: {name} differs"
