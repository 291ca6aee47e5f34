"""Plain records that a spec or a run makes and the store keeps: the floor's method label, one grid
point of an ablation, a training run's validation curve. Ground level (no imports of the suite), so that the spec package and the
store both import them downward and neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FLOOR", "AblationPoint", "ValidationCurve"]

#: Method label (prefix) of the random-init floor's rows: ``random``, or ``random-<backbone>``.
FLOOR = "random"


@dataclass(frozen=True)
class AblationPoint:
    """One grid point of an ablation, as stored.

    Attributes:
        ablation: the ablation's name.
        point: the point's plain name, e.g. ``temperature-0.1`` (its folder name too).
        position: its place in the grid (0, 1, ...), the order of the report's rows.
        benchmark: the benchmark name its result rows are stored under.
        swept: swept path → value at this point, JSON text (e.g. ``{"methods[0].params.temperature": 0.1}``).
        question: the question the ablation file asks.
    """

    ablation: str
    point: str
    position: int
    benchmark: str
    swept: str
    question: str = ""


@dataclass(frozen=True)
class ValidationCurve:
    """One training run's validation curve and budget, as stored with its rows (so that a
    report drawn from the store, or from its export on another machine, needs no run folder).

    Attributes:
        benchmark, method, seed: the run (method label x seed).
        spec_hash: the job hash of the run it was read from (a curve of another configuration
            is never shown for the run).
        steps, seconds, val_acc: one entry per validation: the step, the run's training
            wall-clock then (over all its sittings), the accuracy (a fraction).
        total_steps, total_seconds: the steps and training wall-clock of the whole run.
        day: the date its log was last written (``YYYY-MM-DD``).
    """

    benchmark: str
    method: str
    seed: int
    spec_hash: str
    steps: tuple[int, ...]
    seconds: tuple[float, ...]
    val_acc: tuple[float, ...]
    total_steps: int
    total_seconds: float
    day: str = ""
