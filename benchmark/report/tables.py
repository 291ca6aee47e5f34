"""The transfer table: result rows → cells (method × eval data × setting × head) → text.

A cell aggregates the rows of one method over its seeds. With one seed the cell is the stored
row (mean ± its CI); with several seeds the per-episode accuracies (the same episodes for every
seed) are averaged over seeds and the CI is taken over episodes, and the 95% CI over the seeds'
mean accuracies (``seed_ci95``) is shown beside it. A cell never mixes rows with
different spec hashes or data fingerprints (``ProvenanceError`` says which differ), and a column
never mixes evaluation data with different fingerprints or input conversions. A column of
converted images (``benchmark.data.convert``; its split is named ``split→<conversion>``) gets a
footnote saying what the conversion did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmark.errors import BenchmarkError
from benchmark.report import stats
from benchmark.store import FLOOR, ResultRow

#: The fixed columns of the CSV file, in order.
CSV_COLUMNS = ("benchmark", "method", "train_dataset", "train_split", "eval_dataset",
               "eval_split", "ways", "shots", "queries", "head", "seeds", "episodes", "mean",
               "ci95", "best", "tie", "rank", "spec_hash", "train_fingerprint",
               "eval_fingerprint", "input_conversion", "seed_ci95")
#: Columns a CSV written before they existed may lack (read back as unknown).
_OPTIONAL_CSV = ("seed_ci95",)

LEGEND = ("Accuracy (%) over fixed evaluation episodes of each table's split, mean ± 95% CI "
          "(Student t). **Bold**: best mean in the column; †: 95% CI overlaps the best's CI (a "
          "tie). p: two-sided paired "
          "Wilcoxon signed-rank test between the two best methods on identical episodes. Rank: "
          "average rank over columns (1 = best).")


class ProvenanceError(BenchmarkError):
    """Rows that must not share a cell or column: different spec hashes or data fingerprints."""


@dataclass(frozen=True)
class Column:
    """One column of the table: an evaluation split × (ways, shots) × head."""

    eval_dataset: str
    eval_split: str
    ways: int
    shots: int
    head: str

    def title(self, with_head: bool) -> str:
        text = f"{self.eval_dataset}/{self.eval_split} {self.ways}w{self.shots}s"
        return f"{text} {self.head}" if with_head else text


@dataclass(frozen=True)
class Comparison:
    """The paired test of a column: ``best`` against ``second`` on identical episodes."""

    best: str
    second: str
    p_value: float


@dataclass(frozen=True)
class TransferTable:
    """A benchmark's transfer table, built from its rows by ``build_table``.

    Attributes:
        cells: tidy frame with ``CSV_COLUMNS``, one row per (method, column).
        methods: row order (by average rank, the random floor last).
        columns: column order.
        comparisons: paired test per column (absent where fewer than two methods).
        ranks: average rank per method.
        spec_hashes, commits: the distinct values among the rows.
        conversions: ``dataset/split`` → what was done to its images, for the evaluation
            splits whose images were converted to the models' shape.
    """

    benchmark: str
    cells: pd.DataFrame
    methods: tuple[str, ...]
    columns: tuple[Column, ...]
    comparisons: dict[Column, Comparison]
    ranks: dict[str, float]
    spec_hashes: tuple[str, ...]
    commits: tuple[str, ...]
    conversions: dict[str, str]

    @property
    def show_head(self) -> bool:
        return len({c.head for c in self.columns}) > 1

    def cell(self, method: str, column: Column) -> pd.Series | None:
        frame = self.cells
        hit = frame[(frame.method == method) & (frame.eval_dataset == column.eval_dataset)
                    & (frame.eval_split == column.eval_split) & (frame.ways == column.ways)
                    & (frame.shots == column.shots) & (frame["head"] == column.head)]
        return None if hit.empty else hit.iloc[0]


def column_order(columns: Iterable[Column], train_datasets: Iterable[str]) -> tuple[Column, ...]:
    """``columns`` as a paper orders them: the training data set's own classes first (the
    in-domain table), then the other evaluation sets by name; within a split by ways, with the
    prototype head (the protocol's) before the others, then by shots."""
    trained = set(train_datasets)
    return tuple(sorted(columns, key=lambda c: (c.eval_dataset not in trained, c.eval_dataset,
                                                c.eval_split, c.ways, c.head != "prototype",
                                                c.head, c.shots)))


def _describe(values: dict[str, list[int]]) -> str:
    return "; ".join(f"{v} (seeds {', '.join(map(str, sorted(s)))})" for v, s in values.items())


def _guard(rows: Sequence[ResultRow], what: str, fields: Sequence[str]) -> None:
    for name in fields:
        values: dict[str, list[int]] = {}
        for row in rows:
            values.setdefault(str(getattr(row, name)), []).append(row.seed)
        if len(values) > 1:
            label = name.replace("_", " ")
            raise ProvenanceError(
                f"{what} mixes rows with different {label}s: {_describe(values)}; re-run them "
                "with one spec on the same data, or report them from separate stores")


def _aggregate(rows: Sequence[ResultRow]) -> tuple[float, float, np.ndarray | None]:
    """Cell mean, CI and seed-averaged per-episode accuracies ``[E]`` (None if not stored)."""
    episodes = [np.asarray(r.episode_accuracies, dtype=np.float64) for r in rows]
    paired = all(e.size and e.size == episodes[0].size for e in episodes)
    averaged = np.mean(episodes, axis=0) if paired else None
    if len(rows) == 1:
        return rows[0].accuracy, rows[0].ci95, averaged
    if averaged is None:
        return float(np.mean([r.accuracy for r in rows])), float(np.mean([r.ci95 for r in rows])), None
    mean, ci = stats.mean_ci95(averaged)
    return mean, ci, averaged


def build_table(rows: Sequence[ResultRow], benchmark: str) -> TransferTable:
    """Group the rows of one benchmark into cells, find best/ties, run the paired tests, rank.

    Raises:
        ProvenanceError: a cell whose rows differ in spec hash or data fingerprints, or a
            column whose evaluation data differ between methods.
        BenchmarkError: no rows.
    """
    rows = [r for r in rows if r.benchmark == benchmark]
    if not rows:
        raise BenchmarkError(f"no results for benchmark {benchmark!r} in the store")
    groups: dict[tuple[str, Column], list[ResultRow]] = {}
    for row in rows:
        column = Column(row.eval_dataset, row.eval_split, row.ways, row.shots, row.head)
        groups.setdefault((row.method, column), []).append(row)
    by_column: dict[Column, dict[str, tuple[float, float, np.ndarray | None]]] = {}
    records = []
    for (method, column), cell_rows in sorted(groups.items(), key=lambda kv: kv[0][0]):
        where = f"cell {method} × {column.title(True)}"
        _guard(cell_rows, where, ("spec_hash", "train_fingerprint", "eval_fingerprint",
                                  "queries", "episodes"))
        mean, ci, averaged = _aggregate(cell_rows)
        by_column.setdefault(column, {})[method] = (mean, ci, averaged)
        first = cell_rows[0]
        records.append({
            "benchmark": benchmark, "method": method, "train_dataset": first.train_dataset,
            "train_split": first.train_split, "eval_dataset": column.eval_dataset,
            "eval_split": column.eval_split, "ways": column.ways, "shots": column.shots,
            "queries": first.queries, "head": column.head, "seeds": len(cell_rows),
            "episodes": first.episodes, "mean": mean, "ci95": ci, "best": False, "tie": False,
            "rank": np.nan, "spec_hash": first.spec_hash,
            "train_fingerprint": first.train_fingerprint,
            "eval_fingerprint": first.eval_fingerprint,
            "input_conversion": first.input_conversion,
            "seed_ci95": (stats.mean_ci95([r.accuracy for r in cell_rows])[1]
                          if len(cell_rows) > 1 else np.nan),
        })
    for column in by_column:
        _guard([g for (m, c), rs in groups.items() if c == column for g in rs],
               f"column {column.title(True)}", ("eval_fingerprint", "input_conversion"))
    cells = pd.DataFrame.from_records(records, columns=list(CSV_COLUMNS))
    comparisons: dict[Column, Comparison] = {}
    for column, entries in by_column.items():
        order = sorted(entries, key=lambda m: (-entries[m][0], m))
        best_mean, best_ci, _ = entries[order[0]]
        mask = _column_mask(cells, column)
        for method in order:
            mean, ci, _ = entries[method]
            hit = mask & (cells.method == method)
            cells.loc[hit, "best"] = method == order[0]
            cells.loc[hit, "tie"] = method != order[0] and stats.intervals_overlap(
                mean, ci, best_mean, best_ci)
        if len(order) > 1:
            a, b = entries[order[0]][2], entries[order[1]][2]
            if a is not None and b is not None and a.shape == b.shape:
                comparisons[column] = Comparison(order[0], order[1], stats.wilcoxon_p(a, b))
    ranks = stats.average_ranks(
        {c.title(True): {m: v[0] for m, v in e.items()} for c, e in by_column.items()})
    for column, entries in by_column.items():
        per_column = stats.average_ranks({"c": {m: v[0] for m, v in entries.items()}})
        for method, rank in per_column.items():
            cells.loc[_column_mask(cells, column) & (cells.method == method), "rank"] = rank
    methods = tuple(sorted(ranks, key=lambda m: (m == FLOOR, ranks[m], m)))
    columns = column_order(by_column, {r.train_dataset for r in rows})
    cells = cells.sort_values(["method", "eval_dataset", "eval_split", "ways", "shots", "head"],
                              key=lambda s: s.map({m: i for i, m in enumerate(methods)})
                              if s.name == "method" else s).reset_index(drop=True)
    return TransferTable(
        benchmark=benchmark, cells=cells, methods=methods, columns=columns,
        comparisons=comparisons, ranks=ranks,
        spec_hashes=tuple(sorted({r.spec_hash for r in rows})),
        commits=tuple(sorted({r.commit for r in rows})),
        conversions={f"{r.eval_dataset}/{r.eval_split}": r.input_conversion
                     for r in sorted(rows, key=lambda r: (r.eval_dataset, r.eval_split))
                     if r.input_conversion},
    )


def table_from_csv(text: str) -> TransferTable:
    """A table read back from its CSV (``to_csv``'s text): the cells with their best and tie
    marks and ranks. The paired tests are not in the CSV: ``comparisons`` is empty.

    Raises:
        BenchmarkError: a CSV without ``CSV_COLUMNS`` or without rows.
    """
    import io

    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    try:
        cells = pd.read_csv(io.StringIO(body), keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise BenchmarkError(f"not a transfer table CSV ({err})") from None
    missing = [c for c in CSV_COLUMNS if c not in cells.columns and c not in _OPTIONAL_CSV]
    if missing or cells.empty:
        raise BenchmarkError(f"not a transfer table CSV (missing {', '.join(missing) or 'rows'})")
    for name in ("best", "tie"):
        cells[name] = cells[name].astype(str) == "True"
    cells["seed_ci95"] = pd.to_numeric(cells.get("seed_ci95", np.nan), errors="coerce")
    ranks = {m: float(r) for m, r in cells.groupby("method")["rank"].mean().items()}
    columns = {Column(r.eval_dataset, r.eval_split, int(r.ways), int(r.shots), r["head"])
               for _, r in cells.iterrows()}
    return TransferTable(
        benchmark=str(cells.benchmark.iloc[0]), cells=cells,
        methods=tuple(sorted(ranks, key=lambda m: (m == FLOOR, ranks[m], m))),
        columns=column_order(columns, set(cells.train_dataset.astype(str))),
        comparisons={}, ranks=ranks, spec_hashes=tuple(sorted(set(cells.spec_hash.astype(str)))),
        commits=(), conversions={f"{r.eval_dataset}/{r.eval_split}": r.input_conversion
                                 for _, r in cells.iterrows() if r.input_conversion})


def _column_mask(cells: pd.DataFrame, column: Column) -> pd.Series:
    return ((cells.eval_dataset == column.eval_dataset) & (cells.eval_split == column.eval_split)
            & (cells.ways == column.ways) & (cells.shots == column.shots)
            & (cells["head"] == column.head))


# ---------------------------------------------------------------- formatting


@dataclass(frozen=True)
class _Style:
    """How one output format writes text, bold, the tie mark and ±."""

    escape: Callable[[str], str]
    bold: tuple[str, str]
    dagger: str
    pm: str


def _latex_escape(text: str) -> str:
    for char in "&%_#$":
        text = text.replace(char, "\\" + char)
    return text.replace("→", "$\\to$")


_MARKDOWN = _Style(lambda t: t.replace("|", "\\|"), ("**", "**"), "†", "±")
_LATEX = _Style(_latex_escape, ("\\textbf{", "}"), "$^\\dagger$", "$\\pm$")


def _cell_text(cell: pd.Series | None, style: _Style) -> str:
    if cell is None:
        return "–"
    text = f"{100 * cell['mean']:.2f} {style.pm} {100 * cell['ci95']:.2f}"
    if pd.notna(cell.get("seed_ci95", np.nan)):
        text += f" (seeds {style.pm} {100 * cell['seed_ci95']:.2f})"
    if cell["best"]:
        return f"{style.bold[0]}{text}{style.bold[1]}"
    return f"{text}{style.dagger}" if cell["tie"] else text


def _p_text(comparison: Comparison | None, style: _Style) -> str:
    if comparison is None:
        return "–"
    p = comparison.p_value
    value = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
    return f"{value} (vs {style.escape(comparison.second)})"


def table_grid(table: TransferTable, style: _Style = _MARKDOWN) -> list[list[str]]:
    """Header row, one row per method (cells + average rank), then the p-value row."""
    header = ["method", *(style.escape(c.title(table.show_head)) for c in table.columns),
              "rank"]
    grid = [header]
    for method in table.methods:
        grid.append([style.escape(method),
                     *(_cell_text(table.cell(method, c), style) for c in table.columns),
                     f"{table.ranks[method]:.2f}"])
    grid.append(["p (best vs 2nd)",
                 *(_p_text(table.comparisons.get(c), style) for c in table.columns), ""])
    return grid


def group_grids(table: TransferTable, style: _Style = _MARKDOWN) -> list[tuple[str, list[list[str]]]]:
    """The table as a paper prints it: one grid per evaluation split (and head, where there
    are several), its columns the settings (``5w1s``), each with its heading; rows as in
    ``table_grid`` (the rank column is the average rank over every column of the benchmark;
    the p-value row last, where the paired tests are known)."""
    groups: dict[tuple[str, str, str], list[Column]] = {}
    for column in table.columns:
        groups.setdefault((column.eval_dataset, column.eval_split, column.head), []).append(column)
    out = []
    for (dataset, split, head), columns in groups.items():
        heading = f"{dataset}/{split}" + (f", head {head}" if table.show_head else "")
        settings = [f"{c.ways}w{c.shots}s" for c in columns]
        grid = [["method", *settings, "rank (all)"]]
        for method in table.methods:
            cells = [table.cell(method, c) for c in columns]
            if all(c is None for c in cells):
                continue
            grid.append([style.escape(method), *(_cell_text(c, style) for c in cells),
                         f"{table.ranks[method]:.2f}"])
        if table.comparisons:  # none for a table read back from its CSV
            grid.append(["p (best vs 2nd)",
                         *(_p_text(table.comparisons.get(c), style) for c in columns), ""])
        out.append((style.escape(heading), grid))
    return out


def title(table: TransferTable, overlap: bool) -> str:
    """``<benchmark>: transfer accuracy``, or, when the training classes are also evaluation
    classes, ``<benchmark>: accuracy (training and evaluation classes overlap)``."""
    if overlap:
        return f"{table.benchmark}: accuracy (training and evaluation classes overlap: not a transfer)"
    return f"{table.benchmark}: transfer accuracy"


def conversion_note(table: TransferTable) -> str:
    """The footnote of the converted columns, e.g. ``Input conversion (to the models' image
    shape): cifar10/fewshot_test→auto: RGB→grey (ITU-R 601 luma), 32x32→28x28 bilinear
    (antialiased).``; empty when no column was converted."""
    if not table.conversions:
        return ""
    return "Input conversion (to the models' image shape): " + "; ".join(
        f"{split}: {done}" for split, done in table.conversions.items()) + "."


def episodes_note(table: TransferTable) -> str:
    """How many test episodes each head was evaluated on, e.g. ``Test episodes per cell:
    1000; head finetune: 100 (the first of the same episodes).``; empty when every cell has
    the same number."""
    counts = table.cells.groupby("head")["episodes"].max().astype(int).to_dict()
    if len(set(counts.values())) < 2:
        return ""
    most = max(counts.values())
    fewer = "; ".join(f"head {head}: {n}" for head, n in sorted(counts.items()) if n < most)
    return f"Test episodes per cell: {most}; {fewer} (the first of the same episodes)."


def seeds_note(table: TransferTable) -> str:
    """What ``(seeds ± x)`` means, where some cell has several seeds; else empty."""
    if not table.cells.seed_ci95.notna().any():
        return ""
    return ("Several seeds: the mean is over seeds, ± its 95% CI over the (seed-averaged) test "
            "episodes; (seeds ± x): the 95% CI over the seeds' mean accuracies (Student t).")


def notes(table: TransferTable) -> list[str]:
    """The table's footnotes (input conversions, episode counts, seeds), those that apply."""
    return [note for note in (conversion_note(table), episodes_note(table), seeds_note(table))
            if note]


def markdown_grid(grid: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub Markdown table of ``grid`` (its first row the header), cells centred."""
    lines = ["| " + " | ".join(grid[0]) + " |",
             "|" + "|".join(["---"] + [":-:"] * (len(grid[0]) - 1)) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in grid[1:]]


def to_markdown(table: TransferTable, provenance: Sequence[str], overlap: bool = False) -> str:
    """GitHub Markdown: a title, one table per evaluation split and head (``group_grids``),
    the legend and the provenance lines."""
    lines = [f"### {title(table, overlap)}", ""]
    for heading, grid in group_grids(table, _MARKDOWN):
        lines += [f"#### {heading}", "", *markdown_grid(grid), ""]
    lines += [LEGEND, ""]
    for note in notes(table):
        lines += [_MARKDOWN.escape(note), ""]
    lines += [f"<sub>{line}</sub>  " for line in provenance]
    return "\n".join(lines).rstrip() + "\n"


def to_latex(table: TransferTable, provenance: Sequence[str], overlap: bool = False) -> str:
    """A booktabs ``table`` environment; provenance as ``%`` comments and in the caption."""
    grid = table_grid(table, _LATEX)
    lines = [f"% {line}" for line in provenance]
    lines += ["\\begin{table}[t]", "\\centering", "\\small",
              "\\begin{tabular}{l" + "c" * (len(grid[0]) - 1) + "}", "\\toprule",
              " & ".join(grid[0]) + " \\\\", "\\midrule"]
    lines += [" & ".join(row) + " \\\\" for row in grid[1:-1]]
    lines += ["\\midrule", " & ".join(grid[-1]) + " \\\\", "\\bottomrule", "\\end{tabular}"]
    legend = (LEGEND.replace("%", "\\%").replace("**Bold**", "\\textbf{Bold}")
              .replace("†", "$^\\dagger$").replace("±", "$\\pm$"))
    for note in notes(table):
        legend += " " + _latex_escape(note)
    lines += [f"\\caption{{{_latex_escape(title(table, overlap))}. {legend} "
              f"Spec hash {', '.join(table.spec_hashes)}; "
              f"commit {_latex_escape(', '.join(table.commits))}.}}",
              f"\\label{{tab:{table.benchmark}}}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: TransferTable, provenance: Sequence[str]) -> str:
    """The tidy numeric table (``CSV_COLUMNS``) after ``#`` provenance comment lines
    (``pandas.read_csv(path, comment="#")`` reads it)."""
    header = "".join(f"# {line}\n" for line in provenance)
    return header + table.cells.to_csv(index=False, columns=list(CSV_COLUMNS),
                                       float_format="%.6f")
