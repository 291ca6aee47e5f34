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
