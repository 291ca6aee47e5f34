"""The store as a file a fresh clone can use: ``results/results.jsonl.gz`` (committed; the
SQLite store is not), brought up to date by every report written into a results folder
(``benchmark report`` and ``benchmark run``: the rows and runs of the store rendered replace
those of the same key, the others are kept), read by ``benchmark.results()`` and
``benchmark report`` when there is no store.

One JSON object a line, gzip-compressed: ``{"table": "results", ...ResultRow fields}`` (with
``episode_accuracies`` at full precision, so that the paired tests on the export give the
store's p-values: rounded, equal differences between methods become unequal and the
Wilcoxon ranks of tied differences change),
``{"table": "runs", ...RunRecord fields}``, ``{"table": "curves", ...ValidationCurve fields}`` (a
run's validation curve, so that time-to-accuracy plots and budgets render from the export) and
``{"table": "ablation_points", ...}``. Reading
refuses, in one line naming the line, anything else: an unknown table, missing or unknown
fields, values of the wrong type; a file larger than ``MAX_BYTES`` unpacked.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, Iterator

from benchmark.atomic import atomic_write
from benchmark.errors import BenchmarkError
from benchmark.store import AblationPoint, ResultRow, RunRecord, Store, ValidationCurve

FILE_NAME = "results.jsonl.gz"
MAX_BYTES = 256 << 20
TABLES = {"results": ResultRow, "runs": RunRecord, "curves": ValidationCurve,
          "ablation_points": AblationPoint}


def find(store_path: Path) -> Path | None:
    """The export beside the store path ``store_path`` (``results/results.sqlite`` →
    ``results/results.jsonl.gz``), or None."""
    path = Path(store_path).parent / FILE_NAME
    return path if path.is_file() else None


def _records(store: Store) -> Iterator[dict[str, Any]]:
    for row in store.results(with_episodes=True):
        yield {"table": "results", **asdict(row)}
    for run in store.runs():
        yield {"table": "runs", **asdict(run)}
    for curve in store.curves():
        yield {"table": "curves", **asdict(curve)}
    for ablation in store.ablations():
        for point in store.ablation_points(ablation):
            yield {"table": "ablation_points", **asdict(point)}


def _kept(path: Path, store: Store) -> Iterator[dict[str, Any]]:
    """The records of the export at ``path`` (if any) that ``store`` does not hold: rows whose
    key (``ResultRow.key``), runs and curves whose job (benchmark, method, seed) it lacks, and the
    points of ablations it lacks (an ablation's points are replaced as a whole, as in the
    store). A store holding some labels of a benchmark replaces only those."""
    if not path.is_file():
        return
    rows = {row.key for row in store.results()}
    runs = {(run.benchmark, run.method, run.seed) for run in store.runs()}
    ablations = set(store.ablations())
    held = {"results": lambda r: r.key in rows,
            "runs": lambda r: (r.benchmark, r.method, r.seed) in runs,
            "curves": lambda r: (r.benchmark, r.method, r.seed) in runs,
            "ablation_points": lambda r: r.ablation in ablations}
    for table, records in read(path).items():
        for record in records:
            if not held[table](record):
                yield {"table": table, **asdict(record)}


def write(store: Store, path: Path) -> Path:
    """Bring the export at ``path`` up to date with ``store`` (atomically): every row, run and
    ablation point of ``store``, and those already at ``path`` that ``store`` does not hold
    (``_kept``: rendered from another store, or from a store holding part of a benchmark),
    grouped by table and benchmark; the same store and export give the same bytes.

    Raises:
        BenchmarkError: the file at ``path`` is not an export (it is left as it is).
    """
    path = Path(path)
    order = {table: i for i, table in enumerate(TABLES)}
    records = sorted([*_kept(path, store), *_records(store)], key=lambda r: (
        order[r["table"]], r["ablation"] if r["table"] == "ablation_points" else r["benchmark"]))
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)
    data = gzip.compress(text.encode("utf-8"), mtime=0)
    return atomic_write(path, lambda handle: handle.write(data))


def _typed(cls: type, record: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    missing = [n for n, f in known.items() if n not in record
               and f.default is MISSING and f.default_factory is MISSING]
    unknown = sorted(set(record) - set(known))
    if missing or unknown:
        raise BenchmarkError(f"{where}: " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"unknown {', '.join(unknown)}" if unknown else "") if part))
    lists = {}
    for name, value in record.items():
        kind = str(known[name].type)
        if kind.startswith("tuple["):  # a list of numbers (of ints: ``tuple[int, ...]``)
            number = int if kind.startswith("tuple[int") else (int, float)
            if not isinstance(value, list) or not all(
                    isinstance(a, number) and not isinstance(a, bool) for a in value):
                raise BenchmarkError(f"{where}: {name} is not a list of "
                                     f"{'integers' if number is int else 'numbers'}")
            lists[name] = tuple(value if number is int else (float(a) for a in value))
            continue
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) if "float" in kind
              else isinstance(value, int) and not isinstance(value, bool) if kind.startswith("int")
              else isinstance(value, str) if kind == "str"
              else True)
        if value is None and "None" in kind:
            ok = True
        if not ok:
            raise BenchmarkError(f"{where}: {name} is {value!r}, expected {kind}")
    return cls(**{**record, **lists})


def read(path: Path) -> dict[str, list[Any]]:
    """The export at ``path`` as ``{"results": [ResultRow], "runs": [RunRecord],
    "curves": [ValidationCurve], "ablation_points": [AblationPoint]}``.

    Raises:
        BenchmarkError: not a gzip file, too large, or a line that is not one of ours.
    """
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except (OSError, EOFError) as err:
        raise BenchmarkError(f"{path}: not a results export ({err})") from None
    if len(data) > MAX_BYTES:
        raise BenchmarkError(f"{path}: larger than {MAX_BYTES} bytes unpacked")
    out: dict[str, list[Any]] = {table: [] for table in TABLES}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise BenchmarkError(f"{where}: not JSON ({err.msg})") from None
        table = record.pop("table", None) if isinstance(record, dict) else None
        if table not in TABLES:
            raise BenchmarkError(f"{where}: not a record of {', '.join(TABLES)}")
        out[table].append(_typed(TABLES[table], record, where))
    return out


def load_into(path: Path, store: Store) -> None:
    """Put everything of the export at ``path`` into ``store`` (a fresh, temporary one)."""
    found = read(path)
    store.put_results(found["results"])
    for run in found["runs"]:
        store.set_run(run)
    for curve in found["curves"]:
        store.set_curve(curve)
    if found["ablation_points"]:
        store.put_ablation_points(found["ablation_points"])
