"""The matched-compute table: each method's accuracy at equal training CPU-minutes.

A benchmark whose methods train with ``trainer.marks`` stores one row per cell and mark
(``ResultRow.mark``, training CPU-minutes). Its report shows, per evaluation split × setting ×
head, one table: rows = methods, columns = marks, then the method's own published number and
the budget it was published at (``report.published``). A cell is the mean over seeds with the
95% CI over the test episodes (seed-averaged episode accuracies, as the transfer table); with
more than one seed the 95% CI over the seeds' means stands beside it. The random-init floor
(no marks) is a footnote of each table. ``plot`` draws accuracy against training CPU-minutes,
one line per method, one panel per setting.

The transfer table of such a benchmark (``at_last_mark``) shows each run at its last mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from benchmark.report import published as pub  # noqa: E402
from benchmark.report import stats  # noqa: E402
from benchmark.report.tables import Column  # noqa: E402
from benchmark.store import FLOOR, ResultRow  # noqa: E402

#: The columns of the matched-compute CSV, in order.
CSV_COLUMNS = ("benchmark", "method", "eval_dataset", "eval_split", "ways", "shots", "head",
               "mark_cpu_minutes", "steps", "seeds", "episodes", "mean", "ci95", "seed_ci95",
               "published", "published_budget", "spec_hash")

LEGEND = ("Accuracy (%) at equal training compute: each column is a checkpoint kept when the "
          "run's training process had used that many CPU-minutes (one torch thread; "
          "validation not counted), mean ± 95% CI over the test episodes{seeds}. **Bold**: "
          "best in the column. Published: the method's own paper, at the budget beside it "
          "(`benchmark/report/published.py`; – where none is recorded).")


@dataclass(frozen=True)
class MarkCell:
    """One method at one mark: mean and CIs (fractions), seeds, and the mean step reached."""

    mean: float
    ci95: float
    seeds: int
    seed_ci95: float
    steps: int
    episodes: int


@dataclass(frozen=True)
class MarkTable:
    """One evaluation split × setting × head: methods (best at the last mark first) × marks."""

    benchmark: str
    column: Column
    marks: tuple[float, ...]
    methods: tuple[str, ...]
    cells: Mapping[tuple[str, float], MarkCell]
    published: Mapping[str, pub.Published | None]
    floor: MarkCell | None
    spec_hashes: Mapping[str, str]

    def heading(self) -> str:
        c = self.column
        return f"{c.eval_dataset}/{c.eval_split}, {c.ways}-way {c.shots}-shot, head {c.head}"

    def best(self, mark: float) -> str | None:
        """The method with the best mean at ``mark``."""
        scored = [(self.cells[(m, mark)].mean, m) for m in self.methods if (m, mark) in self.cells]
        return max(scored)[1] if scored else None


def has_marks(rows: Sequence[ResultRow]) -> bool:
    """Whether some row was evaluated at a compute mark."""
    return any(r.mark for r in rows)


def at_last_mark(rows: Sequence[ResultRow]) -> list[ResultRow]:
    """The rows of each method × seed at its largest mark (all rows of runs without marks)."""
    last: dict[tuple[str, int], float] = {}
    for row in rows:
        key = (row.method, row.seed)
        last[key] = max(last.get(key, 0.0), row.mark)
    return [r for r in rows if r.mark == last[(r.method, r.seed)]]


def _cell(rows: Sequence[ResultRow]) -> MarkCell:
    """Seeds' rows of one cell: seed-averaged episodes → mean and episode CI; seed CI."""
    episodes = [np.asarray(r.episode_accuracies, dtype=np.float64) for r in rows]
    if len(rows) == 1:
        mean, ci = rows[0].accuracy, rows[0].ci95
    elif all(e.size and e.size == episodes[0].size for e in episodes):
        mean, ci = stats.mean_ci95(np.mean(episodes, axis=0))
    else:
        mean = float(np.mean([r.accuracy for r in rows]))
        ci = float(np.mean([r.ci95 for r in rows]))
    seed_ci = stats.mean_ci95([r.accuracy for r in rows])[1] if len(rows) > 1 else math.nan
    return MarkCell(mean, ci, len(rows), seed_ci, round(float(np.mean([r.steps for r in rows]))),
                    rows[0].episodes)


def build(rows: Sequence[ResultRow], benchmark: str,
          supervision: Mapping[str, str] | None = None) -> list[MarkTable]:
    """The matched-compute tables of ``benchmark``'s rows (empty without marked rows);
    ``supervision`` (method label → labels/none) matches the published numbers."""
    rows = [r for r in rows if r.benchmark == benchmark]
    groups: dict[Column, dict[tuple[str, float], list[ResultRow]]] = {}
    floors: dict[Column, list[ResultRow]] = {}
    for row in rows:
        column = Column(row.eval_dataset, row.eval_split, row.ways, row.shots, row.head)
        if row.mark:
            groups.setdefault(column, {}).setdefault((row.method, row.mark), []).append(row)
        elif row.method == FLOOR:
            floors.setdefault(column, []).append(row)
    tables = []
    for column in sorted(groups, key=lambda c: (c.head != "prototype", c.head, c.eval_dataset,
                                                c.eval_split, c.ways, c.shots)):
        cells = {key: _cell(found) for key, found in groups[column].items()}
        marks = tuple(sorted({mark for _, mark in cells}))
        names = {method for method, _ in cells}

        def last(method: str) -> float:
            reached = [mark for m, mark in cells if m == method]
            return -cells[(method, max(reached))].mean

        methods = tuple(sorted(names, key=lambda m: (last(m), m)))
        first = {method: found[0] for (method, _), found in groups[column].items()}
        published = {m: pub.same_method(
            first[m].method_name, (supervision or {}).get(m),
            (first[m].backbone, first[m].train_dataset, column.eval_dataset, column.eval_split,
             column.ways, column.shots, column.head), variant=first[m].variant) for m in methods}
        tables.append(MarkTable(benchmark, column, marks, methods, cells, published,
                                _cell(floors[column]) if column in floors else None,
                                {m: first[m].spec_hash for m in methods}))
    return tables


# ---------------------------------------------------------------- text


def _text(cell: MarkCell | None, bold: bool, pm: str = "±",
          strong: tuple[str, str] = ("**", "**")) -> str:
    if cell is None:
        return "–"
    text = f"{100 * cell.mean:.1f} {pm} {100 * cell.ci95:.1f}"
    if cell.seeds > 1:
        text += f" (seeds {pm} {100 * cell.seed_ci95:.1f})"
    return f"{strong[0]}{text}{strong[1]}" if bold else text


def grid(table: MarkTable, pm: str = "±", strong: tuple[str, str] = ("**", "**"),
         escape=lambda t: t) -> list[list[str]]:
    """Header, then one row per method: its cell at each mark, its published number and
    budget."""
    best = {mark: table.best(mark) for mark in table.marks}
    out = [["method", *(f"{m:g} CPU-min" for m in table.marks), "published (%)",
            "published budget"]]
    for method in table.methods:
        ref = table.published.get(method)
        note = ref.protocol_note(table.column.eval_split) if ref else ""
        out.append([escape(method),
                    *(_text(table.cells.get((method, mark)), best[mark] == method, pm, strong)
                      for mark in table.marks),
                    f"{ref.accuracy:.1f}" if ref else "–",
                    escape(f"{ref.budget} ({ref.citation}{'; ' + note if note else ''})")
                    if ref else "–"])
    return out


def _steps_note(table: MarkTable) -> str:
    parts = [f"{m} " + "/".join(str(table.cells[(m, mark)].steps) for mark in table.marks
                                if (m, mark) in table.cells) for m in table.methods]
    return f"Steps reached at the marks: {'; '.join(parts)}."


def _floor_note(table: MarkTable) -> str:
    if table.floor is None:
        return ""
    return (f"Random-init floor (no training): {100 * table.floor.mean:.1f} ± "
            f"{100 * table.floor.ci95:.1f}.")


def legend(tables: Sequence[MarkTable]) -> str:
    seeds = max((c.seeds for t in tables for c in t.cells.values()), default=1)
    return LEGEND.format(seeds="" if seeds == 1 else
                         " (seed-averaged); seeds ± x: 95% CI over the seeds' means")


def markdown_lines(tables: Sequence[MarkTable], plots: Sequence[str] = ()) -> list[str]:
    """The matched-compute section: one table per setting and head, the legend, the plots."""
    if not tables:
        return []
    lines = ["### Accuracy at matched training compute", ""]
    for table in tables:
        body = grid(table, escape=lambda t: t.replace("|", "\\|"))
        lines += [f"#### {table.heading()}", "", "| " + " | ".join(body[0]) + " |",
                  "|" + "|".join(["---"] + [":-:"] * (len(body[0]) - 2) + ["---"]) + "|",
                  *("| " + " | ".join(row) + " |" for row in body[1:]), ""]
        lines += [line for line in (_floor_note(table), _steps_note(table)) if line]
        lines.append("")
    lines += [legend(tables), ""]
    lines += [f"![accuracy vs training CPU-minutes]({path})" for path in plots]
    return lines + ([""] if plots else [])


def _latex(text: str) -> str:
    for char in "&%_#$":
        text = text.replace(char, "\\" + char)
    for char, command in (("→", "\\to"), ("≤", "\\le"), ("×", "\\times"), ("±", "\\pm")):
        text = text.replace(char, f"${command}$")
    return text


def to_latex(tables: Sequence[MarkTable], provenance: Sequence[str]) -> str:
    """One booktabs ``table`` per setting and head; provenance as ``%`` comments."""
    lines = [f"% {line}" for line in provenance]
    caption = _latex(legend(tables).replace("**Bold**", "Bold").replace("`", ""))
    for table in tables:
        body = grid(table, "$\\pm$", ("\\textbf{", "}"), _latex)
        lines += ["\\begin{table}[t]", "\\centering", "\\small",
                  "\\begin{tabular}{l" + "c" * (len(body[0]) - 2) + "p{4cm}}", "\\toprule",
                  " & ".join(body[0]) + " \\\\", "\\midrule",
                  *(" & ".join(row) + " \\\\" for row in body[1:]), "\\bottomrule",
                  "\\end{tabular}",
                  f"\\caption{{{_latex(table.benchmark)}: {_latex(table.heading())}. {caption} "
                  f"{_latex(_floor_note(table))}}}",
                  f"\\label{{tab:{table.benchmark}-{table.column.ways}w{table.column.shots}s-"
                  f"{table.column.head}}}", "\\end{table}", ""]
    return "\n".join(lines)


def to_csv(tables: Sequence[MarkTable], provenance: Sequence[str]) -> str:
    """The tidy numbers (``CSV_COLUMNS``, fractions) after ``#`` provenance lines."""
    import csv
    import io

    out = io.StringIO()
    out.write("".join(f"# {line}\n" for line in provenance))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in tables:
        for method in t.methods:
            ref = t.published.get(method)
            for mark in t.marks:
                cell = t.cells.get((method, mark))
                if cell is None:
                    continue
                writer.writerow([
                    t.benchmark, method, t.column.eval_dataset, t.column.eval_split,
                    t.column.ways, t.column.shots, t.column.head, f"{mark:g}", cell.steps,
                    cell.seeds, cell.episodes, f"{cell.mean:.6f}", f"{cell.ci95:.6f}",
                    "" if math.isnan(cell.seed_ci95) else f"{cell.seed_ci95:.6f}",
                    f"{ref.accuracy / 100:.4f}" if ref else "", ref.budget if ref else "",
                    t.spec_hashes[method]])
    return out.getvalue()


# ---------------------------------------------------------------- plot


#: Markers cycled with the colours, so twelve or more methods stay apart in grey print too.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def plot(tables: Sequence[MarkTable], head: str) -> Figure:
    """Accuracy (with its 95% CI) against training CPU-minutes, one line per method, one
    panel per setting of ``head``; the random-init floor dotted."""
    mine = [t for t in tables if t.column.head == head]
    ncols = min(2, len(mine))
    nrows = math.ceil(len(mine) / ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols + 1.6, 3.8 * nrows + 0.6),
                                squeeze=False)
    methods = list(dict.fromkeys(m for t in mine for m in t.methods))
    colours = plt.get_cmap("tab20").colors  # one colour and marker per method in every panel
    style = {m: (colours[(2 * i) % 20 + (2 * i) // 20 % 2], MARKERS[i % len(MARKERS)])
             for i, m in enumerate(methods)}
    for ax, table in zip(axes.flat, mine):
        for method in table.methods:
            marks = [m for m in table.marks if (method, m) in table.cells]
            cells = [table.cells[(method, m)] for m in marks]
            colour, marker = style[method]
            ax.errorbar(marks, [100 * c.mean for c in cells], yerr=[100 * c.ci95 for c in cells],
                        marker=marker, color=colour, capsize=3, label=method)
        if table.floor is not None:
            ax.axhline(100 * table.floor.mean, color="grey", linestyle=":", label="random init")
        c = table.column
        ax.set_title(f"{c.eval_split}, {c.ways}-way {c.shots}-shot", fontsize=10)
        ax.set_xlabel("training CPU-minutes")
        ax.set_ylabel("accuracy (%)")
        ax.set_xticks(table.marks)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(mine):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center right", fontsize=8)  # beside the panels, not on them
    figure.suptitle(f"{mine[0].benchmark}: accuracy vs training CPU-minutes (head {head})")
    figure.tight_layout(rect=(0, 0, 1 - 1.5 / figure.get_figwidth(), 1))
    return figure


def heads(tables: Sequence[MarkTable]) -> list[str]:
    """The heads the tables cover, prototype first."""
    return list(dict.fromkeys(t.column.head for t in tables))
