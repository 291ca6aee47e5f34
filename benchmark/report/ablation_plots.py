"""An ablation's figures: per evaluation cell, accuracy against the swept value (one line per
method series, 95% CI bands, the floor dashed), or a heat map per series for two crossed
parameters."""

from __future__ import annotations

import json
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from benchmark.report.ablation_analysis import Ablation, Entry  # noqa: E402
from benchmark.report.ablation_text import point_label, value_text  # noqa: E402
from benchmark.report.tables import Column  # noqa: E402


def _line(ax: Axes, x: np.ndarray, entries: Sequence[Entry | None], label: str,
          dashed: bool, joined: bool) -> None:
    """One series: a line with its 95% CI band along a numeric axis (``joined``), else a mark
    with its 95% CI bar per category (a line between categories would read as a trend)."""
    keep = [i for i, e in enumerate(entries) if e is not None]
    if not keep:
        return
    mean = np.array([100 * entries[i].mean for i in keep])
    ci = np.nan_to_num(np.array([100 * entries[i].ci95 for i in keep]))
    xs = x[keep]
    if not joined:
        ax.errorbar(xs, mean, yerr=ci, marker="s" if dashed else "o", linestyle="none",
                    capsize=4, label=label)
        return
    (drawn,) = ax.plot(xs, mean, marker="o", linestyle="--" if dashed else "-", label=label)
    ax.fill_between(xs, mean - ci, mean + ci, alpha=0.2, color=drawn.get_color())


def line_plot(ablation: Ablation, column: Column) -> Figure:
    """Accuracy against the swept value on one evaluation cell (numeric x when every value is
    a number, log-scaled when they span 10× or more, lines with CI bands; else categories in
    grid order, marks with CI bars)."""
    figure, ax = plt.subplots(figsize=(6.0, 4.2))
    numeric = ablation.numeric()
    if numeric:
        x = np.array([float(p.values[0][1]) for p in ablation.points])
        if x.min() > 0 and x.max() / x.min() >= 10:
            ax.set_xscale("log")
        ax.set_xticks(x, [value_text(p.values[0][1]) for p in ablation.points])
        ax.minorticks_off()
    else:
        x = np.arange(len(ablation.points), dtype=np.float64)
        ax.set_xticks(x, [point_label(ablation, p, first=False) for p in ablation.points],
                      rotation=30 if len(ablation.points) > 4 else 0, ha="right"
                      if len(ablation.points) > 4 else "center")
    for series, columns in ablation.series.items():
        if column in columns:
            _line(ax, x, columns[column], series, dashed=False, joined=numeric)
    if column in ablation.floor_points:
        _line(ax, x, ablation.floor_points[column], f"floor ({ablation.floor_label})",
              dashed=True, joined=numeric)
    if column in ablation.floor_once:
        ax.axhline(100 * ablation.floor_once[column].mean, linestyle="--", color="grey",
                   label=f"floor ({ablation.floor_label})")
    ax.set_xlabel(ablation.param_name(ablation.params[0]) if ablation.params else "variant")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{ablation.name}: {column.title(True)}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


#: What the marks of a heat map's cells mean (written under the map).
HEAT_KEY = "*: best mean of the series; †: its 95% CI overlaps the best's (a tie)"
#: Swept method settings that shape the training episodes (an axis says so).
TRAINING_EPISODE = ("ways", "shots", "queries")


def axis_label(ablation: Ablation, path: str) -> str:
    """``training ways (methods[0].ways)`` for a method's training-episode setting, else the
    parameter's name (``temperature``)."""
    name = ablation.param_name(path)
    if path.startswith("methods") and name in TRAINING_EPISODE:
        return f"training {name} ({path})"
    return name


def heat_map(ablation: Ablation, column: Column) -> Figure:
    """Two crossed parameters on one evaluation cell: a mean-accuracy heat map per series
    (rows: the first parameter, columns: the second, in grid order; † marks ties)."""
    first, second = ablation.params
    rows = list(dict.fromkeys(json.dumps(dict(p.values)[first]) for p in ablation.points))
    cols = list(dict.fromkeys(json.dumps(dict(p.values)[second]) for p in ablation.points))
    names = [s for s, columns in ablation.series.items() if column in columns]
    figure, axes = plt.subplots(1, len(names), figsize=(4.8 * len(names), 4.2), squeeze=False)
    for ax, series in zip(axes.flat, names):
        grid = np.full((len(rows), len(cols)), np.nan)
        marks: dict[tuple[int, int], Entry] = {}
        for point, e in zip(ablation.points, ablation.series[series][column]):
            if e is not None:
                values = dict(point.values)
                at = (rows.index(json.dumps(values[first])), cols.index(json.dumps(values[second])))
                grid[at] = 100 * e.mean
                marks[at] = e
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        for (i, j), e in marks.items():
            mark = "*" if e.best else "†" if e.tie else ""
            ax.text(j, i, f"{100 * e.mean:.1f}{mark}", ha="center", va="center", fontsize=8,
                    color="white")
        ax.set_yticks(range(len(rows)), [value_text(json.loads(r)) for r in rows])
        ax.set_xticks(range(len(cols)), [value_text(json.loads(c)) for c in cols])
        ax.set_ylabel(axis_label(ablation, first))
        ax.set_xlabel(axis_label(ablation, second))
        ax.set_title(f"{series}, evaluated on {column.title(True)}", fontsize=9)
        figure.colorbar(image, ax=ax, label="accuracy (%)")
    figure.text(0.01, 0.01, HEAT_KEY, fontsize=8, va="bottom", ha="left")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


def figure_for(ablation: Ablation, column: Column) -> Figure:
    """The cell's figure: a heat map for two crossed parameters, else a line plot."""
    return (heat_map if ablation.kind == "two" else line_plot)(ablation, column)
