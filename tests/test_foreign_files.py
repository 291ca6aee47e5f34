"""Never touch what is not ours: another application's SQLite file is refused by every
command with nothing written to it, read-only commands never write, stored names never choose
an output path, and temporary files of a killed write are swept."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

import benchmark
from benchmark import cli
from benchmark.errors import BenchmarkError
from benchmark.store import Store
from test_store import make_row

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def files_of(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` → the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def foreign_database(path: Path, version: int = 0) -> Path:
    conn = sqlite3.connect(path)
    if version:
        conn.execute(f"PRAGMA user_version = {version}")
    else:
        conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('ada', '123')")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("version", [0, 2])
@pytest.mark.parametrize("command", ["report", "results", "run", "store"])
def test_another_applications_sqlite_file_is_refused_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture, command: str, version: int) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    db = foreign_database(folder / "app.sqlite", version)
    before = files_of(folder)
    if command == "results":
        with pytest.raises(BenchmarkError, match="another application"):
            benchmark.results(db)
    elif command == "store":
        with pytest.raises(BenchmarkError, match="another application"):
            Store(db)
    else:
        argv = (["report", "--store", str(db), "--out", str(tmp_path / "out")]
                if command == "report" else
                ["run", str(TINY), "--store", str(db), "--runs-dir", str(tmp_path / "runs"),
                 "--report-dir", str(tmp_path / "out"), "--device", "cpu"])
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "another application" in err[0], err
    assert files_of(folder) == before  # no tables, no user_version, no WAL files
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def old_store(path: Path) -> Path:
    """A suite store as schema version 3 left it (no input_conversion nor eval_precision column)."""
    with Store(path) as store:
        store.put_results([make_row()])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("ALTER TABLE results DROP COLUMN input_conversion")
    conn.execute("ALTER TABLE results DROP COLUMN eval_precision")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    return path


def test_reading_commands_never_write_the_store(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    db = old_store(folder / "results.sqlite")
    before = files_of(folder)
    frame = benchmark.results(db)
    assert list(frame["benchmark"]) == ["bench"] and list(frame["input_conversion"]) == [""]
    assert cli.main(["report", "--store", str(db), "--out", str(tmp_path / "out")]) == 0
    assert files_of(folder) == before  # not upgraded, no WAL mode, no -wal/-shm files
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 3


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs", "..", "a/b", "x" * 3000])
def test_a_stored_benchmark_name_never_chooses_the_output_path(
        tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    db = tmp_path / "store" / "results.sqlite"
    with Store(db) as store:
        store.put_results([make_row(), make_row(benchmark=name)])
    out = tmp_path / "a" / "b" / "out"
    assert cli.main(["report", "--store", str(db), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a plain file name" in err[0]
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(db.parent)]
    assert outside == [] and not Path("/tmp/abs.md").exists()


def test_a_report_sweeps_the_temporary_files_of_a_killed_report(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    with Store(db) as store:
        store.put_results([make_row()])
    out = tmp_path / "out"
    (out / "bench").mkdir(parents=True)
    left = [out / ".bench.md.x1y2.tmp", out / "bench" / ".accuracy_vs_shots.png.z3.tmp"]
    for path in left:
        path.write_bytes(b"half")
    keep = out / ".other.tmp"  # not ours to remove
    keep.write_bytes(b"someone else's")
    assert cli.main(["report", "--store", str(db), "--out", str(out)]) == 0
    assert not any(path.exists() for path in left) and keep.exists()
