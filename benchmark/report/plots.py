"""Accuracy vs shots, one line per method, one panel per evaluation split × ways × head."""

from __future__ import annotations

import math
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from benchmark.report.tables import TransferTable  # noqa: E402


def accuracy_vs_shots(table: TransferTable) -> Figure:
    """A figure of mean accuracy (with 95% CI error bars) against shots per method (the
    provenance goes into the files' metadata and the pages, not into the image)."""
    cells = table.cells
    panels = sorted({(c.eval_dataset, c.eval_split, c.ways, c.head) for c in table.columns})
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 0.6),
                                squeeze=False)
    for ax, (dataset, split, ways, head) in zip(axes.flat, panels):
        panel = cells[(cells.eval_dataset == dataset) & (cells.eval_split == split)
                      & (cells.ways == ways) & (cells["head"] == head)]
        for method in table.methods:
            line = panel[panel.method == method].sort_values("shots")
            if line.empty:
                continue
            ax.errorbar(line.shots, 100 * line["mean"], yerr=100 * line.ci95, marker="o",
                        capsize=3, linestyle="--" if method == "random" else "-", label=method)
        title = f"{dataset}/{split}, {ways}-way"
        ax.set_title(title if not table.show_head else f"{title}, {head}", fontsize=10)
        ax.set_xlabel("shots")
        ax.set_ylabel("accuracy (%)")
        ax.set_xticks(sorted(panel.shots.unique()))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"{table.benchmark}: accuracy vs shots")
    figure.tight_layout()
    return figure
