"""What a benchmark's validation curves say: still rising or flat, minutes to a target accuracy,
and the training budget of each method, as Markdown lines.

The rule (``trend``): a curve is **rising** when the best of its last third of validations (at
least one) beats the best validation before them by more than ``RISING_POINTS`` points;
otherwise **flat**. A curve of fewer than two validations is undetermined.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from benchmark.report.curves import Curve

#: Gain (accuracy points) of the last third of validations over the best before them.
RISING_POINTS = 0.5
RULE = (f"rising: the best of the last third of validations beats the best before them by more "
        f"than {RISING_POINTS} points; flat otherwise")


def trend(val_acc: Sequence[float]) -> tuple[str, float | None]:
    """``("rising" | "flat", gain in points)``, or ``("undetermined", None)`` for fewer than
    two validations (accuracies as fractions)."""
    if len(val_acc) < 2:
        return "undetermined", None
    last = max(1, len(val_acc) // 3)
    gain = 100 * (max(val_acc[-last:]) - max(val_acc[:-last]))
    return ("rising" if gain > RISING_POINTS else "flat"), gain


def minutes_to_reach(curve: Curve, target: float) -> float | None:
    """Training minutes at the first validation of ``curve`` at or above ``target`` (a
    fraction), or None if none reached it."""
    return next((m for m, a in zip(curve.minutes, curve.val_acc) if a >= target), None)


def by_method(curves: Sequence[Curve], order: Sequence[str] = ()) -> dict[str, list[Curve]]:
    """The curves grouped by method, in ``order`` first, then by name."""
    groups: dict[str, list[Curve]] = {}
    for curve in curves:
        groups.setdefault(curve.method, []).append(curve)
    rank = {m: i for i, m in enumerate(order)}
    return {m: groups[m] for m in sorted(groups, key=lambda m: (rank.get(m, len(rank)), m))}


def _seed_text(curve: Curve) -> str:
    if curve.missing:
        return f"seed {curve.seed}: no curve ({curve.missing})"
    state, gain = trend(curve.val_acc)
    gained = "" if gain is None else f", last third {gain:+.2f} points"
    return (f"seed {curve.seed}: {state}{gained}, last {100 * curve.val_acc[-1]:.1f}% "
            f"at step {curve.steps[-1]}, best {100 * max(curve.val_acc):.1f}%")


def budget_text(curves: Sequence[Curve]) -> str:
    """``400 steps, 3.2 training min per run, 2 seeds``: steps and mean minutes of the runs."""
    steps = sorted({c.total_steps for c in curves})
    minutes = float(np.mean([c.total_minutes for c in curves]))
    return (f"{'/'.join(map(str, steps))} steps, {minutes:.1f} training min per run, "
            f"{len(curves)} seed{'s' if len(curves) != 1 else ''}")


def has_curves(curves: Sequence[Curve]) -> bool:
    """Whether any run has a validation curve to draw."""
    return any(not c.missing for c in curves)


def markdown_lines(curves: Sequence[Curve], plot: str, order: Sequence[str] = ()) -> list[str]:
    """The time-to-accuracy section: the plot's path, the rule, then one line per method
    (budget, and per seed whether the curve was still rising at the end)."""
    lines = ["### Time to accuracy (validation)", ""]
    if not curves:
        return [*lines, "No training runs recorded for this benchmark (the floor only).", ""]
    if not has_curves(curves):
        reasons = sorted({c.missing for c in curves})
        budgets = "; ".join(f"**{m}** {budget_text(g)}" for m, g in by_method(curves, order).items())
        return [*lines, f"No run has a validation curve ({'; '.join(reasons)}), so there is "
                f"no time-to-accuracy plot. Budgets: {budgets}.", ""]
    lines += [f"Validation accuracy against training wall-clock: `{plot}`. "
              f"Rule — {RULE}.", ""]
    for method, group in by_method(curves, order).items():
        seeds = "; ".join(_seed_text(c) for c in group)
        lines.append(f"- **{method}** ({budget_text(group)}): {seeds}")
    return [*lines, ""]
