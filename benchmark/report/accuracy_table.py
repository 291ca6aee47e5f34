"""``benchmark perf accuracy`` (registered by ``benchmark.perf``; a report, not a speed
benchmark): training minutes each run of a benchmark (finished, or under way) took to
first reach each of ``THRESHOLDS`` validation accuracy, read from one or more results stores
and the runs' ``metrics.csv`` (nothing is trained). Validation is the trainer's: the spec's
first evaluation setting and head on ``train.val_split``, every ``trainer.val_every`` steps;
minutes are the run's training wall-clock (validation included) over all its sittings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark.errors import BenchmarkError
from benchmark.report.perf_page import finish, heading, machine
from benchmark.report.curves import Curve, benchmark_curves
from benchmark.report.time_to_accuracy import minutes_to_reach
from benchmark.store import DEFAULT_STORE, Store

#: The validation accuracies timed: 85 and 88% for the contrastive methods, 95 and 98% for
#: ProtoNet (the speed issue's targets), 90% between.
THRESHOLDS = (0.85, 0.88, 0.90, 0.95, 0.98)


@dataclass(frozen=True)
class StoreCurve:
    """One run's curve and the store it was read from (its name in the table)."""

    store: str
    curve: Curve


def _minutes(curve: Curve, target: float) -> str:
    if curve.missing:
        return "–"
    minutes = minutes_to_reach(curve, target)
    return "not reached" if minutes is None else f"{minutes:.1f}"


def table_lines(curves: Sequence[StoreCurve], with_store: bool = False) -> list[str]:
    """The Markdown table: one row per run (method × seed; × store with ``with_store``)."""
    header = ["method", "seed", *(["store"] if with_store else []), "status", "device",
              "precision", *(f"min to {100 * t:.0f}%" for t in THRESHOLDS), "best val (step)",
              "steps", "training min", "steps/s", "day"]
    text_columns = 3 + with_store  # status, device, precision (and store) after the seed
    lines = ["| " + " | ".join(header) + " |",
             "|---|---:|" + "---|" * text_columns + "---:|" * (len(header) - 3 - text_columns)
             + "---|"]
    for where, c in ((s.store, s.curve) for s in curves):
        best = "–" if c.missing else (
            f"{100 * max(c.val_acc):.1f}% ({c.steps[c.val_acc.index(max(c.val_acc))]})")
        rate = c.steps_per_second
        lines.append("| " + " | ".join([
            c.method, str(c.seed), *([where] if with_store else []), c.status, c.device or "–",
            c.precision or "not recorded", *(_minutes(c, t) for t in THRESHOLDS), best,
            str(c.total_steps), f"{c.total_minutes:.1f}", "–" if rate is None else f"{rate:.2f}",
            c.day or "–"]) + " |")
    return lines


def _read(store: Path, benchmark: str) -> list[StoreCurve]:
    """The done and running curves of ``benchmark`` in ``store``.

    Raises:
        BenchmarkError: no such store, or no run of ``benchmark`` in it.
    """
    if not store.is_file():
        raise BenchmarkError(f"store {store} does not exist (run a spec first)")
    with Store(store, read_only=True) as opened:
        known = sorted(set(opened.benchmarks()) | {r.benchmark for r in opened.runs()})
        if benchmark not in known:
            raise BenchmarkError(f"no runs of benchmark {benchmark!r} in {store} "
                                 f"(benchmarks: {', '.join(known) or 'none'})")
        return [StoreCurve(str(store), c)
                for c in benchmark_curves(opened, benchmark, ("done", "running"))]


def run(out: Path | None = None, benchmark: str | None = None,
        store: Path | Sequence[Path] = DEFAULT_STORE) -> int:
    """Print the table of ``benchmark``'s runs in ``store`` (one store, or several: one table,
    a store column; e.g. a float32 run and a bfloat16 experiment's) and write ``out``
    (Markdown) if given."""
    started = time.perf_counter()
    where = machine()
    if benchmark is None:
        raise BenchmarkError("perf accuracy needs --benchmark NAME (a benchmark of the store)")
    if out is not None and out.is_dir():
        raise BenchmarkError(f"--out {out} is a directory; give a file name")
    stores = [Path(store)] if isinstance(store, (str, Path)) else [Path(s) for s in store]
    curves = [c for path in stores for c in _read(path, benchmark)]
    rows = table_lines(curves, with_store=len(stores) > 1)
    missing = [f"{c.curve.method} seed {c.curve.seed}: {c.curve.missing}" for c in curves
               if c.curve.missing]
    command = (f"python -m benchmark perf accuracy --benchmark {benchmark}"
               + "".join(f" --store {path}" for path in stores)
               + (f" --out {out}" if out else ""))
    lines = [
        *heading(f"Time to accuracy: {benchmark}", command, where),
        "- the machine above made this table; each run trained on its row's device, its steps "
        "in its row's precision",
        "- validation: the spec's first evaluation setting and head (5-way 1-shot, prototype "
        "in the shipped specs) on train.val_split; minutes: the run's training wall-clock "
        "(validation included) at the first validation at or above the target; steps/s: "
        "steps / training second over the whole run; day: when its metrics.csv was last written",
        "",
        *(rows if curves else ["No training runs (the floor only)."]),
        *([""] + [f"- {m}" for m in missing] if missing else []),
    ]
    return finish(out, lines, rows, started)
