"""The budget lines every rendered results file carries: devices, wall time, steps and the
training's and evaluation's precisions."""

from __future__ import annotations

from typing import Iterable, Sequence

from benchmark.report.curves import Curve
from benchmark.store import ResultRow


def duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 07 s`` or ``42 s``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _by_method(what: str, pairs: Iterable[tuple[str, str]], default: str) -> str:
    """``what: value``, or the methods of each value where they differ
    (``what: bfloat16 (protonet, simclr); float32 (random)``); ``pairs``: (value, method)."""
    methods: dict[str, set[str]] = {}
    for value, method in pairs:
        methods.setdefault(value, set()).add(method)
    if len(methods) <= 1:
        return f"{what}: {next(iter(methods), default)}"
    return f"{what}: " + "; ".join(f"{p} ({', '.join(sorted(m))})"
                                  for p, m in sorted(methods.items()))


def precision_line(rows: Sequence[ResultRow]) -> str:
    """``evaluation precision: float32``, or by method where they differ
    (``evaluation precision: bfloat16 (protonet, simclr); float32 (random)``)."""
    return _by_method("evaluation precision", ((r.eval_precision, r.method) for r in rows),
                      "float32")


def training_precision_line(curves: Sequence[Curve]) -> str:
    """``training precision: bfloat16``: what each training run's steps ran in (its run
    record's; ``auto`` resolved), by method where they differ; ``not recorded`` for runs
    stored before the store kept it."""
    return _by_method("training precision",
                      ((c.precision or "not recorded", c.method) for c in curves), "none trained")


def budget_lines(rows: Sequence[ResultRow], curves: Sequence[Curve]) -> list[str]:
    """``device(s): ...``, ``wall time: ...``, ``budget: ...``, ``training precision: ...``
    (when something trained) and ``evaluation precision: ...`` of a benchmark's rows and
    training runs (training time: each run's training clock,
    over all its sittings). A method trained to compute marks has its budget in training
    CPU-minutes (its marks), with the steps reached at them."""
    devices = sorted({r.device for r in rows} | {c.device for c in curves if c.device})
    training = sum(60 * c.total_minutes for c in curves)
    evaluation = sum(r.eval_seconds for r in rows)
    steps: dict[str, set[int]] = {}
    seeds: dict[str, set[int]] = {}
    marks: dict[str, set[float]] = {}
    for row in rows:
        steps.setdefault(row.method, set()).add(row.steps)
        seeds.setdefault(row.method, set()).add(row.seed)
        if row.mark:
            marks.setdefault(row.method, set()).add(row.mark)
    budget = "; ".join(
        (f"{m} {'/'.join(f'{x:g}' for x in sorted(marks[m]))} training CPU-min "
         f"({'/'.join(map(str, sorted(s)))} steps)" if m in marks else
         f"{m} {'/'.join(map(str, sorted(s)))} steps")
        + f" × {len(seeds[m])} seed{'s' if len(seeds[m]) != 1 else ''}"
        for m, s in sorted(steps.items()))
    return [
        f"device(s): {', '.join(devices) or 'unknown'}",
        f"wall time: training {duration(training)} ({len(curves)} run(s)), evaluation "
        f"{duration(evaluation)} ({len(rows)} row(s)), total {duration(training + evaluation)}",
        f"budget: {budget}",
        *([training_precision_line(curves)] if curves else []),
        precision_line(rows),
    ]
