"""Validation accuracy against training wall-clock minutes: one line per run, a colour per
method (its seeds share it)."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from benchmark.report.curves import Curve  # noqa: E402
from benchmark.report.time_to_accuracy import by_method  # noqa: E402


def time_to_accuracy(curves: Sequence[Curve], benchmark: str,
                     order: Sequence[str] = ()) -> Figure:
    """The figure; runs without a curve are named under the axes instead of drawn (draw it
    only when some run has a curve: ``time_to_accuracy.has_curves``)."""
    figure, ax = plt.subplots(figsize=(6.4, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    without = []
    for i, (method, group) in enumerate(by_method(curves, order).items()):
        for curve in group:
            if curve.missing:
                without.append(f"{method} seed {curve.seed}")
                continue
            label = method if curve is next(c for c in group if not c.missing) else None
            ax.plot(curve.minutes, [100 * a for a in curve.val_acc], marker="o", markersize=3,
                    color=colours[i % len(colours)], alpha=0.85, label=label)
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no validation curves", transform=ax.transAxes, ha="center")
    ax.set_xlabel("training wall-clock (minutes)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title(f"{benchmark}: time to accuracy", fontsize=10)
    notes = [f"no validation curve: {', '.join(without)}"] if without else []
    if notes:
        figure.text(0.01, 0.005, "\n".join(notes), fontsize=7, va="bottom", ha="left",
                    wrap=True)
    figure.tight_layout(rect=(0, 0.06 if notes else 0, 1, 1))
    return figure
