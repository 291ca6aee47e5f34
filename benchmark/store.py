"""The results store: one SQLite file of tidy result rows, training runs and per-episode accuracies.

Tables (schema version in ``PRAGMA user_version``):

- ``runs``: one row per (benchmark, method label, seed) training, with its status
  (``running`` / ``done`` / ``failed``), steps, wall time, checkpoint path, error message and
  the precision its steps ran in (``precision``: what ``trainer.precision`` resolved to, e.g.
  ``auto`` -> ``bfloat16``; empty for what did not train and for runs stored before schema 8).
- ``results``: one row per (benchmark, method, train dataset/split, eval dataset/split, ways,
  shots, queries, head, seed, mark), unique on that key (re-runs replace, never duplicate;
  ``mark``: the training CPU-minutes of the checkpoint evaluated, ``benchmark.train.marks``,
  0 for the run's final weights), with the accuracy, its 95% CI and the provenance of the
  number (spec hash, commit, library versions, data fingerprints, device, and what was done to
  bring the eval images to the model's shape: ``input_conversion``, empty when nothing was;
  the precision the images were embedded in: ``eval_precision``; how the method was trained:
  ``supervision``, ``labels`` or ``none``, empty for what was not trained here (the floor, a
  pretrained encoder) and for rows stored before schema 7; which published variant of the
  method its hyper-parameters make: ``variant``, e.g. ``first_order`` for first-order MAML,
  empty for the method as published and for rows stored before schema 9).
- ``episode_accuracies``: the per-episode accuracies behind each result, for paired tests.
- ``curves``: one row per training run (benchmark, method label, seed): its validation curve
  and budget (``ValidationCurve``: steps, training seconds and accuracies as JSON lists, total
  steps and seconds, the day), with the job hash of the run it came from; written with the
  run's rows, so reports need no run folder.
- ``ablation_points``: the grid points of an ablation: each point's name (``temperature-0.1``),
  its place in the grid, the benchmark its rows are stored under, the swept values (JSON) and
  the ablation's question, so an ablation's report is rendered from the store alone.
- ``leases``: which process (host, pid, token) is running a (benchmark, method label, seed)
  job now, with its heartbeat time; a job is claimed before it runs, so however many
  processes or workers share the store, no job runs twice at once (``claim``).

The store runs in WAL mode with a busy timeout so several ``run`` processes can share it; every
write is one ``BEGIN IMMEDIATE`` transaction. A file that is not SQLite, a store written by a
newer schema, or a store locked past the timeout is refused with one ``BenchmarkError`` line and
left unchanged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Mapping, Sequence

from benchmark.errors import BenchmarkError
from benchmark.records import FLOOR, AblationPoint, ValidationCurve  # noqa: F401  (stored here; defined below the spec)

#: 2: the leases table; 3: the ablation_points table; 4: results.input_conversion;
#: 5: results.eval_precision; 6: results.mark, in the row key; 7: results.supervision;
#: 8: runs.precision; 9: results.variant; 10: the curves table (an older store gains them when
#: opened)
SCHEMA_VERSION = 10
#: Where ``run``, ``report``, ``perf accuracy`` and the Python API read and write results
#: unless told otherwise (relative to the working directory).
DEFAULT_STORE = Path("results/results.sqlite")
DEFAULT_TIMEOUT_S = 60.0
RUN_STATUSES = ("running", "done", "failed")

#: The columns that identify one result; ``results`` is unique on them.
RESULT_KEY = ("benchmark", "method", "train_dataset", "train_split", "eval_dataset",
              "eval_split", "ways", "shots", "queries", "head", "seed", "mark")


@dataclass(frozen=True)
class ResultRow:
    """One tidy result: a method × train data × eval data × setting × head × seed.

    Accuracies are fractions in ``[0, 1]``; ``ci95`` is the half-width of the 95% interval.
    ``episode_accuracies`` holds one accuracy per fixed test episode (episode ``i`` is the same
    for every method of a benchmark). ``input_conversion`` says how the eval images were
    converted to the model's shape (``benchmark.data.convert``; the converted split's name,
    ``eval_split``, says so too), empty when they were not. ``eval_precision`` is the precision
    they were embedded in (``benchmark.precision``; float32 for rows older than the column).
    ``mark`` is the training CPU-minutes of the checkpoint evaluated (``TrainConfig.marks``;
    then ``steps`` is that checkpoint's step and ``train_seconds`` its training CPU seconds),
    0 for the run's final (or best) weights. ``supervision`` is how the method was trained:
    ``labels`` or ``none`` (``benchmark.samplers.supervision_of`` its sampler), empty for what
    was not trained here (the floor, a pretrained encoder) and for rows older than the column; the report matches published numbers
    by it (MAML on labels is MAML, on augmented views UMTRA). ``variant`` is the published
    variant of the method its hyper-parameters make (``Method.variant``: ``first_order`` for
    first-order MAML), empty for the method as published (and for rows older than the
    column); the report matches published numbers by it too.
    """

    benchmark: str
    method: str
    train_dataset: str
    train_split: str
    eval_dataset: str
    eval_split: str
    ways: int
    shots: int
    queries: int
    head: str
    seed: int
    accuracy: float
    ci95: float
    episodes: int
    eval_seed: int
    steps: int
    train_seconds: float
    eval_seconds: float
    device: str
    commit: str
    versions: str
    spec_hash: str
    train_fingerprint: str
    eval_fingerprint: str
    method_name: str = ""
    backbone: str = ""
    input_conversion: str = ""
    eval_precision: str = "float32"
    mark: float = 0.0
    supervision: str = ""
    variant: str = ""
    episode_accuracies: tuple[float, ...] = field(default=(), repr=False)

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, k) for k in RESULT_KEY)


@dataclass(frozen=True)
class RunRecord:
    """One training run (method label × seed) of a benchmark."""

    benchmark: str
    method: str
    seed: int
    status: str
    spec_hash: str = ""
    steps: int = 0
    failed_step: int | None = None
    wall_seconds: float = 0.0  # training wall-clock of the whole run, all its sittings
    checkpoint: str = ""
    error: str = ""
    device: str = ""
    commit: str = ""
    precision: str = ""


@dataclass(frozen=True)
class Lease:
    """One process's claim on one job: (benchmark, method label, seed).

    ``token`` identifies the claiming process (one per runner invocation); ``heartbeat_at``
    (seconds since the epoch) is refreshed while the job runs, so a lease whose heartbeat is
    old belongs to a process that died and may be taken over.
    """

    benchmark: str
    method: str
    seed: int
    spec_hash: str
    host: str
    pid: int
    token: str
    acquired_at: float = 0.0
    heartbeat_at: float = 0.0

    @property
    def holder(self) -> str:
        """``pid 4242 on host x``."""
        return f"pid {self.pid} on host {self.host}"

    def alive(self, now: float, stale_after: float,
              gone: Callable[["Lease"], bool] | None = None) -> bool:
        """Whether the lease still holds its job at time ``now``: its heartbeat is at most
        ``stale_after`` seconds old and ``gone(self)`` does not say its process has died."""
        return now - self.heartbeat_at <= stale_after and not (gone is not None and gone(self))


_ROW_COLUMNS = [f.name for f in fields(ResultRow) if f.name != "episode_accuracies"]
_RUN_COLUMNS = [f.name for f in fields(RunRecord)]


def _results_table(name: str) -> str:
    """The ``CREATE TABLE`` statement of the results table, under ``name``."""
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    benchmark TEXT NOT NULL, method TEXT NOT NULL,
    train_dataset TEXT NOT NULL, train_split TEXT NOT NULL,
    eval_dataset TEXT NOT NULL, eval_split TEXT NOT NULL,
    ways INTEGER NOT NULL, shots INTEGER NOT NULL, queries INTEGER NOT NULL,
    head TEXT NOT NULL, seed INTEGER NOT NULL,
    accuracy REAL NOT NULL, ci95 REAL NOT NULL, episodes INTEGER NOT NULL,
    eval_seed INTEGER NOT NULL, steps INTEGER NOT NULL,
    train_seconds REAL NOT NULL, eval_seconds REAL NOT NULL,
    device TEXT NOT NULL, commit_id TEXT NOT NULL, versions TEXT NOT NULL,
    spec_hash TEXT NOT NULL, train_fingerprint TEXT NOT NULL, eval_fingerprint TEXT NOT NULL,
    method_name TEXT NOT NULL, backbone TEXT NOT NULL,
    input_conversion TEXT NOT NULL DEFAULT '',
    eval_precision TEXT NOT NULL DEFAULT 'float32', mark REAL NOT NULL DEFAULT 0,
    supervision TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    UNIQUE ({", ".join(RESULT_KEY)})
)
"""


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    benchmark TEXT NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in RUN_STATUSES)})),
    spec_hash TEXT NOT NULL, steps INTEGER NOT NULL, failed_step INTEGER,
    wall_seconds REAL NOT NULL, checkpoint TEXT NOT NULL, error TEXT NOT NULL,
    device TEXT NOT NULL, commit_id TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (benchmark, method, seed)
);
{_results_table("results")};
CREATE TABLE IF NOT EXISTS ablation_points (
    ablation TEXT NOT NULL, point TEXT NOT NULL, position INTEGER NOT NULL,
    benchmark TEXT NOT NULL, swept TEXT NOT NULL, question TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (ablation, point)
);
CREATE TABLE IF NOT EXISTS leases (
    benchmark TEXT NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL,
    spec_hash TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, token TEXT NOT NULL,
    acquired_at REAL NOT NULL, heartbeat_at REAL NOT NULL,
    PRIMARY KEY (benchmark, method, seed)
);
CREATE TABLE IF NOT EXISTS curves (
    benchmark TEXT NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL,
    spec_hash TEXT NOT NULL, steps TEXT NOT NULL, seconds TEXT NOT NULL, val_acc TEXT NOT NULL,
    total_steps INTEGER NOT NULL, total_seconds REAL NOT NULL, day TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (benchmark, method, seed)
);
CREATE TABLE IF NOT EXISTS episode_accuracies (
    result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    episode INTEGER NOT NULL, accuracy REAL NOT NULL,
    PRIMARY KEY (result_id, episode)
) WITHOUT ROWID;
"""


def _sql_name(column: str) -> str:
    """``commit`` is an SQL keyword: the column is ``commit_id``."""
    return "commit_id" if column == "commit" else column


class Store:
    """An open results store. Use as a context manager, or call ``close()``.

    Args:
        path: the SQLite file (created with its parent folder when missing).
        timeout: seconds to wait for another writer before giving up (busy timeout).
        read_only: only read (``report``, ``results()``): the file must exist and is opened
            read-only; a store of an older schema is read through an upgraded copy in memory.

    An SQLite file that is not a suite store (another application's tables, or a
    ``user_version`` of its own) is refused before anything is written to it.
    """

    def __init__(self, path: str | Path, timeout: float = DEFAULT_TIMEOUT_S,
                 read_only: bool = False) -> None:
        self.path = Path(path)
        self.timeout = timeout
        _check_is_sqlite(self.path)
        if read_only and not self.path.is_file():
            raise BenchmarkError(f"store {self.path} does not exist")
        # SQLite's side files that a refused file must not be left with (a read-only
        # connection cannot remove on closing those it made)
        side = [Path(f"{self.path}{end}") for end in ("-wal", "-shm")
                if not Path(f"{self.path}{end}").exists()]
        try:
            if read_only:
                # read-write, but ``query_only``, where the file is writable: then SQLite can
                # remove its -wal/-shm side files on closing (a mode=ro connection leaves them)
                mode = "rw" if os.access(self.path, os.W_OK) else "ro"
                self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode={mode}",
                                             uri=True, timeout=timeout, isolation_level=None)
                self._conn.execute("PRAGMA query_only = ON")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise BenchmarkError(f"store {self.path}: cannot open ({err})") from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            _check_ours(self._conn, self.path)
            if read_only:
                self._read_only_schema()
                return
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._init_schema()
        except BenchmarkError:
            self._close_refused(side)
            raise
        except sqlite3.Error as err:
            self._close_refused(side)
            raise self._error(err) from None

    def _close_refused(self, side: list[Path]) -> None:
        """Close the connection to a refused file and remove the side files it made."""
        self._conn.close()
        for path in side:
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------ plumbing

    def _error(self, err: sqlite3.Error) -> BenchmarkError:
        text = str(err)
        if "locked" in text or "busy" in text:
            return BenchmarkError(f"store {self.path} is locked by another process "
                                  f"(waited {self.timeout:g} s)")
        if "not a database" in text or "malformed" in text:
            return BenchmarkError(f"store {self.path} is not an SQLite database (or is corrupt)")
        return BenchmarkError(f"store {self.path}: {text}")

    def _init_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BenchmarkError(f"store {self.path} has schema version {version}, newer than "
                                 f"this code's {SCHEMA_VERSION}; upgrade the benchmark code")
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise BenchmarkError(f"store {self.path}: cannot switch to WAL mode (got {mode})")
        if version < SCHEMA_VERSION:
            self._conn.execute("PRAGMA foreign_keys = OFF")  # the rebuild keeps episode rows
            try:
                with self.transaction() as conn:
                    _upgrade(conn)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                self._conn.execute("PRAGMA foreign_keys = ON")

    def _read_only_schema(self) -> None:
        """Refuse a newer schema; read an older one through an upgraded copy in memory."""
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BenchmarkError(f"store {self.path} has schema version {version}, newer than "
                                 f"this code's {SCHEMA_VERSION}; upgrade the benchmark code")
        if version < SCHEMA_VERSION:
            copy = sqlite3.connect(":memory:", isolation_level=None)
            self._conn.backup(copy)
            self._conn.close()
            self._conn = copy
            with self.transaction() as conn:
                _upgrade(conn)

    class _Transaction:
        def __init__(self, store: "Store") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            try:
                self.store._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise self.store._error(err) from None
            return self.store._conn

        def __exit__(self, kind, value, traceback) -> bool:
            conn = self.store._conn
            if kind is None:
                try:
                    conn.execute("COMMIT")
                    return False
                except sqlite3.Error as err:
                    self._rollback()
                    raise self.store._error(err) from None
            self._rollback()
            if isinstance(value, sqlite3.Error):
                raise self.store._error(value) from None
            return False

        def _rollback(self) -> None:
            """Roll back what is left: SQLite may have rolled back already (a full disk)."""
            conn = self.store._conn
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the error being raised says what went wrong

    def transaction(self) -> "Store._Transaction":
        """``with store.transaction() as conn:`` one write transaction (all or nothing)."""
        return Store._Transaction(self)

    def _read(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        self._conn.row_factory = sqlite3.Row
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise self._error(err) from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ runs

    def set_run(self, run: RunRecord, release: Lease | None = None) -> None:
        """Insert or replace the record of one training run (and give back the job's lease if
        given, in the same transaction)."""
        with self.transaction() as conn:
            _write_run(conn, run)
            if release is not None:
                _release(conn, release)

    def get_run(self, benchmark: str, method: str, seed: int) -> RunRecord | None:
        """The record of one training run, or None."""
        rows = self._read("SELECT * FROM runs WHERE benchmark = ? AND method = ? AND seed = ?",
                          (benchmark, method, seed))
        return _run_of(rows[0]) if rows else None

    def runs(self, benchmark: str | None = None) -> list[RunRecord]:
        """Every run record (of one benchmark, when named)."""
        where, params = ("WHERE benchmark = ?", (benchmark,)) if benchmark else ("", ())
        return [_run_of(r) for r in
                self._read(f"SELECT * FROM runs {where} ORDER BY benchmark, method, seed",
                           params)]

    # ------------------------------------------------------------ leases

    def claim(self, lease: Lease, stale_after: float,
              gone: Callable[[Lease], bool] | None = None) -> tuple[bool, Lease | None]:
        """Claim a job for ``lease.token``, in one transaction.

        The claim succeeds when no lease holds the job, when ``lease.token`` holds it already,
        or when the holder is dead: its heartbeat is older than ``stale_after`` seconds, or
        ``gone(holder)`` says its process no longer exists. Returns ``(claimed, other)``:
        ``other`` is the live holder when not claimed, the dead lease taken over when claimed
        from one, else None.
        """
        now = time.time()
        key = (lease.benchmark, lease.method, lease.seed)
        with self.transaction() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM leases WHERE benchmark = ? AND method = ? AND "
                               "seed = ?", key).fetchone()
            other = _lease_of(row) if row is not None else None
            if other is not None and other.token == lease.token:
                other = None
            if other is not None and other.alive(now, stale_after, gone):
                return False, other
            columns = [f.name for f in fields(Lease)]
            values = {**{c: getattr(lease, c) for c in columns},
                      "acquired_at": now, "heartbeat_at": now}
            conn.execute(f"INSERT OR REPLACE INTO leases ({', '.join(columns)}) "
                         f"VALUES ({', '.join('?' * len(columns))})", [values[c] for c in columns])
        return True, other

    def heartbeat(self, token: str) -> int:
        """Refresh the heartbeat of every lease ``token`` holds; returns how many it holds."""
        with self.transaction() as conn:
            return conn.execute("UPDATE leases SET heartbeat_at = ? WHERE token = ?",
                                (time.time(), token)).rowcount

    def release(self, lease: Lease) -> None:
        """Give a job's lease back (only if ``lease.token`` still holds it)."""
        with self.transaction() as conn:
            _release(conn, lease)

    def release_all(self, token: str) -> None:
        """Give back every lease ``token`` holds (a run that stops, however it stops)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE token = ?", (token,))

    def lease(self, benchmark: str, method: str, seed: int) -> Lease | None:
        """The lease on one job, live or stale, or None."""
        rows = self._read("SELECT * FROM leases WHERE benchmark = ? AND method = ? AND seed = ?",
                          (benchmark, method, seed))
        return _lease_of(rows[0]) if rows else None

    # ------------------------------------------------------------ results

    def put_results(self, rows: Sequence[ResultRow], run: RunRecord | None = None,
                    release: Lease | None = None, curve: ValidationCurve | None = None) -> None:
        """Upsert result rows and their episode accuracies, the record of the run that made
        them and its validation curve if given, and give back the job's lease if given, in one
        transaction: a kill leaves all of it or none of it."""
        with self.transaction() as conn:
            _write_results(conn, rows)
            if run is not None:
                _write_run(conn, run)
            if curve is not None:
                _write_curve(conn, curve)
            if release is not None:
                _release(conn, release)

    def result_hashes(self, benchmark: str, method: str, seed: int) -> dict[tuple, str]:
        """``{result key: spec hash}`` of the rows stored for one method × seed."""
        rows = self._read("SELECT * FROM results WHERE benchmark = ? AND method = ? AND seed = ?",
                          (benchmark, method, seed))
        return {tuple(r[k] for k in RESULT_KEY): r["spec_hash"] for r in rows}

    def results(self, benchmark: str | None = None,
                with_episodes: bool = False) -> list[ResultRow]:
        """Every result row (of one benchmark, when named), ordered by key."""
        where, params = ("WHERE benchmark = ?", (benchmark,)) if benchmark else ("", ())
        rows = self._read(f"SELECT * FROM results {where} ORDER BY {', '.join(RESULT_KEY)}",
                          params)
        episodes: dict[int, list[float]] = {}
        if with_episodes and rows:
            for r in self._read(
                    "SELECT e.result_id, e.accuracy FROM episode_accuracies e "
                    f"JOIN results r ON r.id = e.result_id {where.replace('benchmark', 'r.benchmark')} "
                    "ORDER BY e.result_id, e.episode", params):
                episodes.setdefault(r[0], []).append(r[1])
        return [
            ResultRow(**{c: r[_sql_name(c)] for c in _ROW_COLUMNS},
                      episode_accuracies=tuple(episodes.get(r["id"], ())))
            for r in rows
        ]

    def set_curve(self, curve: ValidationCurve) -> None:
        """Insert or replace the validation curve of one training run."""
        with self.transaction() as conn:
            _write_curve(conn, curve)

    def curves(self, benchmark: str | None = None) -> list[ValidationCurve]:
        """Every stored validation curve (of one benchmark, when named)."""
        where, params = ("WHERE benchmark = ?", (benchmark,)) if benchmark else ("", ())
        rows = self._read(f"SELECT * FROM curves {where} ORDER BY benchmark, method, seed",
                          params)
        try:
            return [_curve_of(r) for r in rows]
        except (ValueError, TypeError) as err:  # a list column that is not a JSON list
            raise BenchmarkError(f"store {self.path}: a validation curve is not readable "
                                 f"({err})") from None

    def put_ablation_points(self, points: Sequence[AblationPoint]) -> None:
        """Record the grid points of an ablation, replacing what was stored for it (a point
        dropped from the file leaves the report), in one transaction."""
        columns = [f.name for f in fields(AblationPoint)] + ["updated_at"]
        now = time.time()
        with self.transaction() as conn:
            conn.executemany("DELETE FROM ablation_points WHERE ablation = ?",
                             [(name,) for name in {p.ablation for p in points}])
            conn.executemany(
                f"INSERT OR REPLACE INTO ablation_points ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                [[getattr(p, c) for c in columns[:-1]] + [now] for p in points])

    def ablation_points(self, ablation: str) -> list[AblationPoint]:
        """The grid points of ``ablation``, in grid order (empty when it is not stored)."""
        rows = self._read("SELECT * FROM ablation_points WHERE ablation = ? ORDER BY position",
                          (ablation,))
        return [AblationPoint(**{f.name: r[f.name] for f in fields(AblationPoint)}) for r in rows]

    def ablations(self) -> list[str]:
        """Names of the ablations whose grid points are stored."""
        return [r[0] for r in self._read("SELECT DISTINCT ablation FROM ablation_points ORDER BY 1")]

    def current_results(self, benchmark: str | None = None,
                        with_episodes: bool = False) -> list[ResultRow]:
        """``results`` less the rows of another configuration (``is_current``): what a report
        shows."""
        runs = {(r.benchmark, r.method, r.seed): r for r in self.runs(benchmark)}
        return [row for row in self.results(benchmark, with_episodes) if is_current(row, runs)]

    def benchmarks(self) -> list[str]:
        """Names of the benchmarks with results in the store."""
        return [r[0] for r in self._read("SELECT DISTINCT benchmark FROM results ORDER BY 1")]

    def count(self, table: str) -> int:
        """Rows in one of the store's tables."""
        if table not in _TABLES:
            raise ValueError(f"no table {table!r}")
        return self._read(f"SELECT COUNT(*) FROM {table}")[0][0]


def is_current(row: ResultRow, runs: Mapping[tuple[str, str, int], RunRecord]) -> bool:
    """Whether ``row`` is of its job's present configuration: its training run (``runs``,
    keyed by benchmark, method label, seed) is not failed and has the row's spec hash. A row
    without a run record (the random-init floor) is current."""
    run = runs.get((row.benchmark, row.method, row.seed))
    return run is None or (run.status != "failed" and run.spec_hash == row.spec_hash)


#: Columns added to a table after it was first made: (table, column, definition).
_ADDED_COLUMNS = (("results", "input_conversion", "TEXT NOT NULL DEFAULT ''"),
                  ("results", "eval_precision", "TEXT NOT NULL DEFAULT 'float32'"),
                  ("results", "supervision", "TEXT NOT NULL DEFAULT ''"),
                  ("results", "variant", "TEXT NOT NULL DEFAULT ''"),
                  ("runs", "precision", "TEXT NOT NULL DEFAULT ''"))


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring a store of an older schema (or a new file) to this one, inside the caller's
    transaction: the missing tables, the columns added since (rows already there get the
    column's default), and the ``results`` key with ``mark`` (schema 6: the table is rebuilt,
    ids kept, so its episode accuracies stay attached; foreign keys must be off)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    _add_missing_columns(conn)
    have = {row[1] for row in conn.execute("PRAGMA table_info(results)")}
    if "mark" not in have:
        conn.execute(_results_table("results_with_marks"))
        columns = ", ".join(sorted(have))
        conn.execute(f"INSERT INTO results_with_marks ({columns}) SELECT {columns} FROM results")
        conn.execute("DROP TABLE results")  # (its episode rows stay: foreign keys are off)
        conn.execute("ALTER TABLE results_with_marks RENAME TO results")


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Give the tables of an older store the columns added since; rows already there get
    the column's default."""
    for table, column, definition in _ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _lease_of(row: sqlite3.Row) -> Lease:
    return Lease(**{f.name: row[f.name] for f in fields(Lease)})


def _release(conn: sqlite3.Connection, lease: Lease) -> None:
    conn.execute("DELETE FROM leases WHERE benchmark = ? AND method = ? AND seed = ? AND token = ?",
                 (lease.benchmark, lease.method, lease.seed, lease.token))


def _run_of(row: sqlite3.Row) -> RunRecord:
    return RunRecord(**{c: row[_sql_name(c)] for c in _RUN_COLUMNS})


#: The tables of a suite store (SQLite's own ``sqlite_*`` tables aside).
_TABLES = frozenset({"runs", "results", "episode_accuracies", "ablation_points", "leases",
                     "curves"})


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite file that is not a suite store: one with tables of its own, or an
    empty one whose ``user_version`` another application set (only reads; writes nothing)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
              if not row[0].startswith("sqlite_")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    foreign = sorted(tables - _TABLES)
    empty_but_versioned = not tables and 0 < version <= SCHEMA_VERSION  # (newer: refused below)
    if foreign or (tables and "results" not in tables) or empty_but_versioned:
        what = (f"it holds other tables: {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}"
                if foreign else f"user_version {version}, tables: {', '.join(sorted(tables)) or 'none'}")
        raise BenchmarkError(f"store {path} is an SQLite file of another application, not a "
                             f"results store ({what}); left untouched")


def _check_is_sqlite(path: Path) -> None:
    """Refuse a store path that is a directory.

    Whether an existing file is SQLite is left to SQLite (its first read says "file is not a
    database", and nothing is written before it): opening and closing the file ourselves would
    drop every POSIX lock this process's connections hold on it, letting another process delete
    the write-ahead log under them (a ``disk I/O error``; sqlite.org/howtocorrupt.html, 2.2).
    """
    if path.is_dir():
        raise BenchmarkError(f"store {path} is a directory, not an SQLite file")


def _write_run(conn: sqlite3.Connection, run: RunRecord) -> None:
    """Insert or replace one run record (inside the caller's transaction)."""
    if run.status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {RUN_STATUSES}, got {run.status!r}")
    columns = [_sql_name(c) for c in _RUN_COLUMNS] + ["updated_at"]
    values = [getattr(run, c) for c in _RUN_COLUMNS] + [time.time()]
    conn.execute(f"INSERT OR REPLACE INTO runs ({', '.join(columns)}) "
                 f"VALUES ({', '.join('?' * len(columns))})", values)


#: The columns of ``curves`` that hold a list (stored as JSON text).
_CURVE_LISTS = ("steps", "seconds", "val_acc")
_CURVE_COLUMNS = [f.name for f in fields(ValidationCurve)]


def _write_curve(conn: sqlite3.Connection, curve: ValidationCurve) -> None:
    """Insert or replace one run's validation curve (inside the caller's transaction)."""
    values = [json.dumps(list(getattr(curve, c))) if c in _CURVE_LISTS else getattr(curve, c)
              for c in _CURVE_COLUMNS] + [time.time()]
    conn.execute(f"INSERT OR REPLACE INTO curves ({', '.join(_CURVE_COLUMNS)}, updated_at) "
                 f"VALUES ({', '.join('?' * (len(_CURVE_COLUMNS) + 1))})", values)


def _curve_of(row: sqlite3.Row) -> ValidationCurve:
    """The curve of one ``curves`` row (ValueError or TypeError: a list column that is not a
    JSON list of numbers)."""
    lists = {c: json.loads(row[c]) for c in _CURVE_LISTS}
    if not all(isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
               for v in lists.values()):
        raise ValueError("a list column is not a JSON list of numbers")
    return ValidationCurve(**{c: tuple(lists[c]) if c in lists else row[c]
                              for c in _CURVE_COLUMNS})


def _write_results(conn: sqlite3.Connection, rows: Sequence[ResultRow]) -> None:
    """Upsert result rows and replace their episode accuracies (inside the caller's transaction)."""
    columns = [_sql_name(c) for c in _ROW_COLUMNS] + ["updated_at"]
    update = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in RESULT_KEY)
    sql = (f"INSERT INTO results ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' * len(columns))}) "
           f"ON CONFLICT ({', '.join(RESULT_KEY)}) DO UPDATE SET {update} RETURNING id")
    now = time.time()
    for row in rows:
        values = [getattr(row, c) for c in _ROW_COLUMNS] + [now]
        result_id = conn.execute(sql, values).fetchone()[0]
        conn.execute("DELETE FROM episode_accuracies WHERE result_id = ?", (result_id,))
        conn.executemany(
            "INSERT INTO episode_accuracies (result_id, episode, accuracy) VALUES (?, ?, ?)",
            [(result_id, i, float(a)) for i, a in enumerate(row.episode_accuracies)])
