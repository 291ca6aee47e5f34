"""Atomic writes: the target is the old file or the whole new one, never a part."""

from __future__ import annotations

import stat

import pytest

from benchmark.atomic import atomic_write, atomic_write_text
from benchmark.errors import BenchmarkError


def test_writes_whole_file_with_readable_mode_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "report.md"
    assert atomic_write_text(target, "é table\n") == target
    assert target.read_text(encoding="utf-8") == "é table\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")

    def half_then_fail(handle):
        handle.write(b"new, half")
        raise OSError("disk full")

    with pytest.raises(BenchmarkError, match=r"cannot write .*table.csv \(disk full\)"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_sweep_removes_what_killed_writers_left_and_never_a_live_writers_file(tmp_path):
    """Two runs rendering one report at once: one's sweep must not delete the temporary file
    the other is writing (it then failed with 'cannot write ... No such file or directory')."""
    import os
    import subprocess
    import sys

    from benchmark.atomic import FOREIGN_WRITE_S, _host, sweep_temporary

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    try:
        names = {
            "live": f".r.md.p{live.pid}@{_host()}.abcd1234.tmp",
            "ours": f".r.md.p{os.getpid()}@{_host()}.abcd1234.tmp",
            "dead": f".r.md.p{finished.pid}@{_host()}.abcd1234.tmp",
            "older version": ".r.md.abcd1234.tmp",
            "other host, recent": ".r.md.p1@elsewhere.abcd1234.tmp",
            "other host, stale": ".r.md.p2@elsewhere.abcd1234.tmp",
        }
        for name in names.values():
            (tmp_path / name).write_text("half")
        stale = tmp_path / names["other host, stale"]
        os.utime(stale, (stale.stat().st_atime, stale.stat().st_mtime - FOREIGN_WRITE_S - 60))
        sweep_temporary(tmp_path, ["r.md"])
        left = {key for key, name in names.items() if (tmp_path / name).exists()}
        assert left == {"live", "ours", "other host, recent"}
    finally:
        live.kill()
        live.wait()


def test_a_temporary_file_names_its_writer(tmp_path):
    import os

    from benchmark.atomic import _host

    seen = []
    atomic_write(tmp_path / "x.bin", lambda handle: seen.extend(tmp_path.glob(".x.bin.*.tmp")))
    assert len(seen) == 1 and f".x.bin.p{os.getpid()}@{_host()}." in seen[0].name
