"""SIGTERM during training: ``python -m benchmark run`` ends with one line (exit 143), gives
its lease back and records the run as failed (interrupted), so no other process waits for a
dead holder and the next run resumes from the checkpoint."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchmark.store import Store

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def _steps(run: Path) -> int:
    path = run / "metrics.csv"
    if not path.exists():
        return 0
    with path.open(newline="") as handle:
        return len(list(csv.DictReader(handle)))


@pytest.mark.slow
def test_sigterm_during_training_releases_the_lease_and_marks_the_run(tmp_path: Path) -> None:
    data = yaml.safe_load(TINY.read_text())
    data["methods"] = data["methods"][:1]
    data["trainer"].update(steps=5000, checkpoint_every=2)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    store = tmp_path / "store.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmark", "run", str(spec), "--store", str(store),
         "--runs-dir", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "report"),
         "--device", "cpu"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    run = tmp_path / "runs" / "tiny" / "protonet" / "seed0"
    deadline = time.monotonic() + 300
    while _steps(run) < 3:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 143, err
    assert lines[-1].startswith("terminated (SIGTERM)") and "Traceback" not in err
    with Store(store) as opened:
        record = opened.get_run("tiny", "protonet", 0)
        assert opened.lease("tiny", "protonet", 0) is None
    assert (record.status, record.error) == ("failed", "interrupted by SIGTERM")
    assert (run / "last.pt").is_file()
