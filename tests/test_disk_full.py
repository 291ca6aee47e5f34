"""A disk that fills up mid-run: ``benchmark run`` ends with one ``error:`` line naming the file
(exit 2), never a traceback, and leaves no temporary file behind.

The full disk is a real one: a tmpfs of 600 KiB, mounted for the test (root only; skipped where
mounting is not allowed), nearly filled before the run so a checkpoint, the store or a report
cannot be written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A mounted tmpfs with about 40 KiB left; unmounted afterwards."""
    mount = tmp_path / f"full-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        (mount / "filler").write_bytes(b"\0" * 560 * 1024)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def _run(root: Path, store: Path, runs: Path, report: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCHMARK_DATA": str(root / "data"), "OMP_NUM_THREADS": "1",
           "MPLCONFIGDIR": str(root / "mpl")}
    return subprocess.run([sys.executable, "-m", "benchmark", "run", str(TINY), "--store",
                           str(store), "--runs-dir", str(runs), "--report-dir", str(report)],
                          env=env, cwd=root, capture_output=True, text=True, timeout=600)


def _one_error_line(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The one ``error:`` line of a run that exited with ``code`` (1: runs failed; 2: refused)."""
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.slow
def test_checkpoints_on_a_full_disk(tmp_path: Path, full_disk: Path) -> None:
    done = _run(tmp_path, tmp_path / "store.sqlite", full_disk / "runs", tmp_path / "report")
    line = _one_error_line(done, code=1)  # the runs failed; the input was fine
    assert "cannot write" in line and "last.pt" in line and "no space left" in line
    assert not list(full_disk.rglob("*.tmp"))


def test_the_store_on_a_full_disk(tmp_path: Path, full_disk: Path) -> None:
    done = _run(tmp_path, full_disk / "store.sqlite", tmp_path / "runs", tmp_path / "report")
    line = _one_error_line(done)
    assert "store.sqlite" in line and "full" in line


@pytest.mark.slow
def test_the_report_on_a_full_disk(tmp_path: Path, full_disk: Path) -> None:
    done = _run(tmp_path, tmp_path / "store.sqlite", tmp_path / "runs", full_disk / "report")
    line = _one_error_line(done)
    assert "cannot write" in line and "no space left" in line
    assert not list(full_disk.rglob("*.tmp"))
