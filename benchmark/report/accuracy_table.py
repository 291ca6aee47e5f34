"""``benchmark perf accuracy`` (registered by ``benchmark.perf``; a report, not a speed
benchmark): training minutes each run of a benchmark (finished, or under way) took to
first reach 90, 95 and 98% validation accuracy, read from a results store and the runs'
``metrics.csv`` (nothing is trained). Validation is the trainer's: the spec's first evaluation setting and head on
``train.val_split``, every ``trainer.val_every`` steps; minutes are the run's training
wall-clock (validation included) over all its sittings.
"""

from __future__ import annotations

import time
from pathlib import Path


from benchmark.errors import BenchmarkError
from benchmark.report.perf_page import finish, heading, machine
from benchmark.report.curves import Curve, benchmark_curves
from benchmark.report.time_to_accuracy import minutes_to_reach
from benchmark.store import Store

THRESHOLDS = (0.90, 0.95, 0.98)
DEFAULT_STORE = Path("results/results.sqlite")


def _minutes(curve: Curve, target: float) -> str:
    if curve.missing:
        return "–"
    minutes = minutes_to_reach(curve, target)
    return "not reached" if minutes is None else f"{minutes:.1f}"


def table_lines(curves: list[Curve]) -> list[str]:
    """The Markdown table: one row per run (method × seed)."""
    header = ["method", "seed", "status", "device", *(f"min to {100 * t:.0f}%" for t in THRESHOLDS),
              "best val (step)", "steps", "training min", "steps/s", "day"]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---|---|" + "---:|" * (len(header) - 5)
             + "---|"]
    for c in curves:
        best = "–" if c.missing else (
            f"{100 * max(c.val_acc):.1f}% ({c.steps[c.val_acc.index(max(c.val_acc))]})")
        rate = c.steps_per_second
        lines.append("| " + " | ".join([
            c.method, str(c.seed), c.status, c.device or "–", *(_minutes(c, t) for t in THRESHOLDS), best,
            str(c.total_steps), f"{c.total_minutes:.1f}", "–" if rate is None else f"{rate:.2f}",
            c.day or "–"]) + " |")
    return lines


def run(out: Path | None = None, benchmark: str | None = None,
        store: Path = DEFAULT_STORE) -> int:
    """Print the table and write ``out`` (Markdown) if given."""
    started = time.perf_counter()
    where = machine()
    if benchmark is None:
        raise BenchmarkError("perf accuracy needs --benchmark NAME (a benchmark of the store)")
    if out is not None and out.is_dir():
        raise BenchmarkError(f"--out {out} is a directory; give a file name")
    store = Path(store)
    if not store.is_file():
        raise BenchmarkError(f"store {store} does not exist (run a spec first)")
    with Store(store, read_only=True) as opened:
        known = sorted(set(opened.benchmarks()) | {r.benchmark for r in opened.runs()})
        if benchmark not in known:
            raise BenchmarkError(f"no runs of benchmark {benchmark!r} in {store} "
                                 f"(benchmarks: {', '.join(known) or 'none'})")
        curves = benchmark_curves(opened, benchmark, ("done", "running"))
    rows = table_lines(curves)
    missing = [f"{c.method} seed {c.seed}: {c.missing}" for c in curves if c.missing]
    command = (f"python -m benchmark perf accuracy --benchmark {benchmark} --store {store}"
               + (f" --out {out}" if out else ""))
    lines = [
        *heading(f"Time to accuracy: {benchmark}", command, where),
        "- the machine above made this table; each run trained on its row's device",
        "- validation: the spec's first evaluation setting and head (5-way 1-shot, prototype "
        "in the shipped specs) on train.val_split; minutes: the run's training wall-clock "
        "(validation included) at the first validation at or above the target; steps/s: "
        "steps / training second over the whole run; day: when its metrics.csv was last written",
        "",
        *(rows if curves else ["No training runs (the floor only)."]),
        *([""] + [f"- {m}" for m in missing] if missing else []),
    ]
    return finish(out, lines, rows, started)
