"""An ablation's words and tables: the generated answer sentences, the table grids, the
caption, the CSV and the provenance lines."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from benchmark import provenance as prov
from benchmark.report.ablation_analysis import Ablation, Entry, Point, value_text
from benchmark.report.tables import Column

#: The columns of the CSV file, after the swept parameters' columns.
CSV_COLUMNS = ("series", "method", "eval_dataset", "eval_split", "ways", "shots", "head",
               "seeds", "mean", "ci95", "best", "tie", "p_holm")


def point_label(ablation: Ablation, point: Point, first: bool = True) -> str:
    """``temperature 0.5`` (first mention) or ``0.5``; ``a 1 with b 2`` for two parameters;
    the point's name for variants."""
    if ablation.kind == "variants":
        return point.name
    parts = [f"{ablation.param_name(path)} {value_text(value)}" for path, value in point.values]
    if ablation.kind == "one" and not first:
        return value_text(point.values[0][1])
    return " with ".join(parts)


def p_text(p: float) -> str:
    """``p < 1e-6``, ``p = 3.2e-04`` or ``p = 0.31``."""
    if p < 1e-6:
        return "p < 1e-6"
    return f"p = {p:.1e}" if p < 1e-3 else f"p = {p:.2g}"


def _acc(entry: Entry) -> str:
    return f"{100 * entry.mean:.2f} ± {100 * entry.ci95:.2f}"


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def cell_sentence(ablation: Ablation, series: str, column: Column) -> str:
    """The generated answer for one series × evaluation cell, from its entries' numbers."""
    by_name = {p.name: p for p in ablation.points}
    entries = [e for e in ablation.series[series][column] if e is not None]
    where = f"On {column.title(True)}" + (f", for {series}" if len(ablation.series) > 1 else "")
    best = next(e for e in entries if e.best)
    text = f"{where}, {point_label(ablation, by_name[best.point])} is best ({_acc(best)})"
    if len(entries) == 1:
        return text + "; it is the only value measured."
    clauses = []
    others = [e for e in entries if not e.best]
    beaten = [e for e in others if e.p_adj is not None and not e.tie]
    if beaten:
        clauses.append("it beats " + _join([
            f"{point_label(ablation, by_name[e.point], False)} by "
            f"{100 * (best.mean - e.mean):.2f} points ({p_text(e.p_adj)})" for e in beaten]))
    tied = [e for e in others if e.tie]
    if len(tied) == 1:
        e = tied[0]
        clauses.append(f"{point_label(ablation, by_name[e.point], False)} ties with it "
                       f"({p_text(e.p_adj)})")
    elif tied:
        clauses.append(_join([f"{point_label(ablation, by_name[e.point], False)} "
                              f"({p_text(e.p_adj)})" for e in tied]) + " tie with it")
    untested = [e for e in others if e.p_adj is None]
    if untested:
        clauses.append(_join([f"{point_label(ablation, by_name[e.point], False)} is "
                              f"{100 * (best.mean - e.mean):.2f} points lower" for e in untested])
                       + " (untested: no shared episodes)")
    floor = ablation.floor_once.get(column)
    if floor is not None:
        clauses.append(f"the floor ({ablation.floor_label}) is at {_acc(floor)}")
    return text + "; " + "; ".join(clauses) + "."


def overall_sentence(ablation: Ablation) -> str:
    """One generated line over every series × cell: how often each value is best or tied."""
    best = {p.name: 0 for p in ablation.points}
    tied = dict(best)
    cells = 0
    for columns in ablation.series.values():
        for entries in columns.values():
            cells += 1
            for e in entries:
                if e is not None and e.best:
                    best[e.point] += 1
                elif e is not None and e.tie:
                    tied[e.point] += 1
    order = sorted(ablation.points, key=lambda p: (-best[p.name], -tied[p.name], p.position))
    what = "cell" if len(ablation.series) == 1 else "method × cell"
    parts = []
    for point in order:
        label = point_label(ablation, point)
        if best[point.name] or tied[point.name]:
            counts = [f"is best in {best[point.name]}"] if best[point.name] else []
            counts += [f"ties with the best in {tied[point.name]}"] if tied[point.name] else []
            parts.append(f"{label} {' and '.join(counts)}")
    never = [point_label(ablation, p) for p in order if not best[p.name] and not tied[p.name]]
    if never:
        parts.append(_join(never) + (" is" if len(never) == 1 else " are")
                     + " never best nor tied")
    plural = "s" if cells != 1 else ""
    return f"Overall ({cells} {what}{plural}): " + "; ".join(parts) + "."


def caption(ablation: Ablation) -> str:
    """The table's legend: which interval, bold, ties and the tests."""
    seeds = ablation.max_seeds
    interval = ("mean over seeds ± 95% Student-t interval over the seed means (up to "
                f"{seeds} seeds; one seed: over its episodes)") if seeds > 1 else \
        "mean ± 95% CI over the fixed evaluation episodes of the column's split (one seed)"
    return (f"Accuracy (%), {interval}. **Bold**: the best value in the column; †: ties with "
            "it (Holm-adjusted p ≥ 0.05). p (Holm): two-sided paired Wilcoxon signed-rank test "
            "against the column's best on the shared evaluation episodes, seeds matched, "
            "Holm-corrected across the values of the column.")


def value_headers(ablation: Ablation) -> list[str]:
    """The table's first columns: one per swept parameter, or ``variant``."""
    return [ablation.param_name(p) for p in ablation.params] or ["variant"]


def _values(ablation: Ablation, point: Point) -> list[str]:
    if ablation.kind == "variants":
        return [point.name]
    return [value_text(v) for _, v in point.values]


def _cell(entry: Entry | None) -> tuple[str, str]:
    if entry is None:
        return "–", "–"
    text = _acc(entry)
    if entry.best:
        return f"**{text}**", "best"
    p = "–" if entry.p_adj is None else p_text(entry.p_adj).removeprefix("p ").lstrip("= ")
    return (f"{text} †" if entry.tie else text), p


def series_grid(ablation: Ablation, series: str) -> list[list[str]]:
    """Header row, one row per point (grid order), then the floor's reference row if stored
    once: value columns, then accuracy and p (Holm) per evaluation cell."""
    columns = [c for c in ablation.columns if c in ablation.series[series]]
    grid = [value_headers(ablation) + [h for c in columns
                                       for h in (c.title(True), "p (Holm)")]]
    for i, point in enumerate(ablation.points):
        grid.append(_values(ablation, point) + [t for c in columns
                                                for t in _cell(ablation.series[series][c][i])])
    if ablation.floor_once:
        pad = [""] * (len(value_headers(ablation)) - 1)
        grid.append([f"floor ({ablation.floor_label})"] + pad + [
            t for c in columns for t in ((_acc(ablation.floor_once[c]), "")
                                         if c in ablation.floor_once else ("–", ""))])
    return grid


def floor_grid(ablation: Ablation) -> list[list[str]]:
    """The floor measured within each point: value columns, then accuracy per cell."""
    columns = [c for c in ablation.columns if c in ablation.floor_points]
    grid = [value_headers(ablation) + [c.title(True) for c in columns]]
    for i, point in enumerate(ablation.points):
        grid.append(_values(ablation, point) + [
            "–" if ablation.floor_points[c][i] is None else _acc(ablation.floor_points[c][i])
            for c in columns])
    return grid


def csv_frame(ablation: Ablation) -> pd.DataFrame:
    """The tidy table: one row per (series or floor, point, cell), swept values first."""
    headers = value_headers(ablation)
    records = []

    def add(series: str, method: str, values: list[str], column: Column, e: Entry) -> None:
        records.append({**dict(zip(headers, values)), "series": series, "method": method,
                        "eval_dataset": column.eval_dataset, "eval_split": column.eval_split,
                        "ways": column.ways, "shots": column.shots, "head": column.head,
                        "seeds": e.seeds, "mean": e.mean, "ci95": e.ci95, "best": e.best,
                        "tie": e.tie, "p_holm": e.p_adj})

    for series, columns in ablation.series.items():
        for column, entries in columns.items():
            for point, e in zip(ablation.points, entries):
                if e is not None:
                    add(series, series, _values(ablation, point), column, e)
    for column, entries in ablation.floor_points.items():
        for point, e in zip(ablation.points, entries):
            if e is not None:
                add("floor", ablation.floor_label, _values(ablation, point), column, e)
    for column, e in ablation.floor_once.items():
        add("floor", ablation.floor_label, [""] * len(headers), column, e)
    return pd.DataFrame.from_records(records, columns=headers + list(CSV_COLUMNS))


def _span(values: Sequence[object]) -> str:
    distinct = sorted(set(values))
    return ", ".join(map(str, distinct))


def provenance_lines(ablation: Ablation, store_path: object, command: str) -> list[str]:
    """The lines every rendered file carries: command, commits, store, spec hashes, devices
    and the budget (training steps per method label)."""
    rows = ablation.rows
    steps: dict[str, list[int]] = {}
    for row in rows:
        steps.setdefault(row.method, []).append(row.steps)
    budget = "; ".join(f"{m} {_span(s)} steps" for m, s in sorted(steps.items()))
    return [
        f"made by: {command}",
        f"report commit: {prov.commit()}; result commits: {_span(r.commit for r in rows)}",
        f"store: {store_path}",
        f"spec hashes: {_span(r.spec_hash for r in rows)}",
        f"devices: {_span(r.device for r in rows)}",
        f"budget: {budget}",
    ]
