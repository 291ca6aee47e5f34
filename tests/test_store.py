"""The SQLite results store: upserts, concurrent writers, refusals, WAL."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.errors import BenchmarkError
from benchmark.store import SCHEMA_VERSION, ResultRow, RunRecord, Store, ValidationCurve

#: The result columns (``commit`` as the store spells it), episode accuracies aside.
ROW_COLUMNS = [("commit_id" if name == "commit" else name) for name in ResultRow.__dataclass_fields__
               if name != "episode_accuracies"]


def make_row(**overrides) -> ResultRow:
    values = dict(
        benchmark="bench", method="protonet", train_dataset="omniglot", train_split="background",
        eval_dataset="omniglot", eval_split="evaluation", ways=5, shots=1, queries=15,
        head="prototype", seed=0, accuracy=0.9, ci95=0.02, episodes=4, eval_seed=0, steps=10,
        train_seconds=1.5, eval_seconds=0.5, device="cpu", commit="abc", versions="{}",
        spec_hash="h1", train_fingerprint="f-train", eval_fingerprint="f-eval",
        method_name="protonet", backbone="conv4", episode_accuracies=(1.0, 0.8, 0.9, 0.9),
    )
    values.update(overrides)
    return ResultRow(**values)


def test_upsert_never_duplicates(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as store:
        store.put_results([make_row(), make_row(shots=5)])
        store.put_results([make_row(accuracy=0.5, episode_accuracies=(0.5, 0.5))])
        assert store.count("results") == 2
        assert store.count("episode_accuracies") == 4 + 2
        rows = {r.shots: r for r in store.results("bench", with_episodes=True)}
        assert rows[1].accuracy == 0.5 and rows[1].episode_accuracies == (0.5, 0.5)
        assert rows[5].episode_accuracies == (1.0, 0.8, 0.9, 0.9)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    row = make_row()
    with Store(tmp_path / "r.sqlite") as store:
        store.put_results([row])
        assert store.results(with_episodes=True) == [row]
        assert store.benchmarks() == ["bench"]


def test_runs_table(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as store:
        store.set_run(RunRecord("bench", "simclr", 0, "running"))
        store.set_run(RunRecord("bench", "simclr", 0, "failed", failed_step=7,
                                error="loss is nan at step 7"))
        assert store.count("runs") == 1
        run = store.get_run("bench", "simclr", 0)
        assert run.status == "failed" and run.failed_step == 7
        assert store.get_run("bench", "simclr", 1) is None
        with pytest.raises(ValueError):
            store.set_run(RunRecord("bench", "simclr", 0, "bogus"))


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    Store(tmp_path / "r.sqlite").close()
    conn = sqlite3.connect(tmp_path / "r.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    conn.close()


def test_not_sqlite_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_text("name,accuracy\nprotonet,0.9\n")
    with pytest.raises(BenchmarkError, match="not an SQLite database"):
        Store(path)
    assert path.read_text() == "name,accuracy\nprotonet,0.9\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.sqlite"]


def test_a_version_3_store_gains_the_newer_columns(tmp_path: Path) -> None:
    """Rows stored before conversions, evaluation precisions and supervision existed read as
    unconverted, embedded in float32 and of unknown supervision, runs stored before training
    precisions as of unknown precision; new rows and runs record theirs."""
    path = tmp_path / "old.sqlite"
    old_run = RunRecord("bench", "protonet", 0, "done", spec_hash="h", steps=5)
    with Store(path) as store:
        store.put_results([make_row()])
        store.set_run(old_run)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE results DROP COLUMN input_conversion")
    conn.execute("ALTER TABLE results DROP COLUMN eval_precision")
    conn.execute("ALTER TABLE results DROP COLUMN supervision")
    conn.execute("ALTER TABLE results DROP COLUMN variant")
    conn.execute("ALTER TABLE runs DROP COLUMN precision")
    conn.execute("DROP TABLE curves")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    converted = make_row(eval_dataset="cifar10", eval_split="fewshot_test→auto",
                         input_conversion="RGB→grey (ITU-R 601 luma)", eval_precision="bfloat16",
                         supervision="labels", variant="first_order")
    with Store(path) as store:
        assert store.results(with_episodes=True) == [make_row()]
        assert (store.results()[0].eval_precision, store.results()[0].supervision,
                store.results()[0].variant) == ("float32", "", "")
        assert store.runs() == [old_run] and old_run.precision == "" and store.curves() == []
        store.put_results([converted])
        assert store.results("bench", with_episodes=True)[0] == converted
        store.set_run(replace(old_run, method="simclr", precision="bfloat16"))
        assert store.get_run("bench", "simclr", 0).precision == "bfloat16"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
    conn.close()


def test_a_version_4_store_gains_the_mark_in_the_row_key(tmp_path: Path) -> None:
    """Rows stored before marks existed read as mark 0 with their episodes; a row of the same
    cell at a mark is stored beside them, not over them."""
    path = tmp_path / "old.sqlite"
    with Store(path) as store:
        store.put_results([make_row()])
    conn = sqlite3.connect(path)
    columns = ", ".join(c for c in ROW_COLUMNS if c != "mark")
    conn.executescript(f"""
        CREATE TABLE v4 AS SELECT id, {columns}, updated_at FROM results;
        DROP TABLE results; ALTER TABLE v4 RENAME TO results; PRAGMA user_version = 4;""")
    conn.close()
    with Store(path) as store:
        assert store.results(with_episodes=True) == [make_row()]
        store.put_results([make_row(mark=3.0, accuracy=0.5)])
        assert [(r.mark, r.accuracy, len(r.episode_accuracies)) for r in store.results(
            with_episodes=True)] == [(0.0, 0.9, 4), (3.0, 0.5, 4)]


def test_a_curve_round_trips_and_a_damaged_one_is_one_error_line(tmp_path: Path) -> None:
    curve = ValidationCurve("bench", "protonet", 0, "h", steps=(100, 200), seconds=(6.5, 13.0),
                            val_acc=(0.5, 0.75), total_steps=200, total_seconds=13.5, day="d")
    with Store(tmp_path / "r.sqlite") as store:
        store.put_results([make_row()], RunRecord("bench", "protonet", 0, "done"), curve=curve)
        store.set_curve(replace(curve, seed=1, steps=()))
        assert store.curves("bench") == [curve, replace(curve, seed=1, steps=())]
        assert store.curves("other") == []
        for damage in ("'not json'", "'{\"a\": 1}'", "'[\"x\"]'"):
            with store.transaction() as conn:
                conn.execute(f"UPDATE curves SET val_acc = {damage} WHERE seed = 1")
            with pytest.raises(BenchmarkError, match="a validation curve is not readable"):
                store.curves()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(BenchmarkError, match="schema version 99"):
        Store(path)


def test_locked_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with Store(path, timeout=0.2) as store:
            with pytest.raises(BenchmarkError, match="locked by another process"):
                store.put_results([make_row()])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store(path) as store:
        assert store.count("results") == 0


def test_failed_transaction_leaves_store_unchanged(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as store:
        store.put_results([make_row()])
        with pytest.raises(RuntimeError):
            with store.transaction() as conn:
                conn.execute("DELETE FROM results")
                raise RuntimeError("boom")
        assert store.count("results") == 1


def _writer(path: str, method: str, count: int) -> None:
    with Store(path) as store:
        for i in range(count):
            store.put_results([make_row(method=method, seed=i)])
            store.set_run(RunRecord("bench", method, i, "done"))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "r.sqlite")
    Store(path).close()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, m, 60)) for m in ("simclr", "protonet")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    with Store(path) as store:
        assert store.count("results") == 120
        assert store.count("runs") == 120
        assert store.count("episode_accuracies") == 120 * 4
        assert {r.method for r in store.results()} == {"simclr", "protonet"}


def test_rows_differing_only_in_payload_share_a_key() -> None:
    assert make_row().key == replace(make_row(), accuracy=0.1, spec_hash="other").key


def test_ablation_points_round_trip_in_grid_order(tmp_path: Path) -> None:
    from benchmark.store import AblationPoint

    points = [AblationPoint("temp", f"temperature-{t}", i, f"temp/temperature-{t}",
                            json.dumps({"methods[0].params.temperature": t}), "which τ?")
              for i, t in enumerate([1.0, 0.1, 0.5])]
    with Store(tmp_path / "s.sqlite") as store:
        store.put_ablation_points(points[::-1])
        assert store.ablation_points("temp") == points
        assert store.ablations() == ["temp"] and store.ablation_points("other") == []
        store.put_ablation_points(points)  # re-running replaces, never duplicates
        assert store.count("ablation_points") == 3
        store.put_ablation_points([points[0]])  # a point dropped from the file is gone
        assert store.ablation_points("temp") == [points[0]]
