"""Render a benchmark's tables and plots from the store, atomically (and, with
``render_ablation_store``, one stored ablation's report).

``render_benchmark(store, name, folder)`` writes the plots into ``folder``
(``accuracy_vs_shots`` and ``time_to_accuracy``, ``.png`` and ``.svg``) and the tables beside
it, named after it: ``<folder>.md``, ``<folder>.tex``, ``<folder>.csv`` (so the default folder
``results/<benchmark>/`` gives ``results/<benchmark>.md``). Each file is headed by the command
that made it, the commits, the store, the spec hashes, the devices, the wall time and the budget;
the Markdown adds the published numbers of matching cells and the time-to-accuracy section.
A benchmark trained to compute marks (``trainer.marks``) leads with its matched-compute tables
(``report.matched_compute``: in the Markdown and the page, and as ``<folder>.marks.tex`` and
``<folder>.marks.csv``) and plots (``accuracy_vs_cpu_minutes_<head>``); its transfer table shows
each run at its last mark.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from benchmark import export
from benchmark import provenance as prov
from benchmark.atomic import atomic_write, atomic_write_text, sweep_temporary
from benchmark.errors import BenchmarkError
from benchmark.interrupt import INTERRUPTED
from benchmark.report import curves as run_curves
from benchmark.report import html as pages
from benchmark.report import matched_compute, plots, published, tables, time_plot, time_to_accuracy
from benchmark.report.ablation import AblationReport, render_ablation
from benchmark.report.header import budget_lines
from benchmark.report.index import benchmarks_on_disk, render_indexes
from benchmark.split_names import base_split
from benchmark.store import ResultRow, RunRecord, Store


#: The plots a benchmark's report may draw into its folder.
PLOTS = frozenset({"accuracy_vs_shots", "time_to_accuracy"})


@dataclass(frozen=True)
class Report:
    """What ``render_benchmark`` wrote: the Markdown text and the paths by kind."""

    benchmark: str
    markdown: str
    files: dict[str, Path]
    table: tables.TransferTable


def provenance_lines(table: tables.TransferTable, store_path: Path, command: str) -> list[str]:
    """The lines every rendered file carries (before its budget lines)."""
    return [
        f"made by: {command}",
        f"report commit: {prov.commit()}; result commits: {', '.join(table.commits)}",
        f"store: {store_path}",
        f"spec hashes: {', '.join(table.spec_hashes)}",
    ]


def table_paths(folder: Path) -> dict[str, Path]:
    """Where the tables (and the HTML page) of the benchmark whose plots are in ``folder`` go:
    beside it."""
    return {kind: folder.parent / f"{folder.name}.{suffix}"
            for kind, suffix in (("markdown", "md"), ("latex", "tex"), ("csv", "csv"),
                                 ("html", "html"))}


def classes_overlap(rows: Sequence[ResultRow]) -> bool:
    """Whether some row was evaluated on classes its method trained on (the same dataset, and
    a split holding every class, ``DatasetInfo.classes_overlap``); unknown datasets: no."""
    from benchmark.data import dataset_info

    for row in {(r.train_dataset, r.train_split, r.eval_dataset, r.eval_split) for r in rows}:
        train_dataset, train_split, eval_dataset, eval_split = row
        if train_dataset != eval_dataset:
            continue
        try:
            info = dataset_info(train_dataset)
        except BenchmarkError:
            continue
        if info.classes_overlap(train_split, base_split(eval_split)):
            return True
    return False


def to_html(table: tables.TransferTable, overlap: bool, sections: Sequence[str],
            pngs: Sequence[tuple[str, bytes]], provenance: Sequence[str],
            lead: Sequence[str] = ()) -> str:
    """The benchmark's self-contained page: the ``lead`` sections (Markdown lines: the
    matched-compute tables), one sortable table per evaluation split and head, the legend and
    notes, the published numbers beside ours, the time-to-accuracy section (``sections``:
    Markdown lines), the plots embedded, the provenance once at the foot."""
    parts = [f"<h1>{pages.inline(tables.title(table, overlap))}</h1>",
             '<nav><a href="index.html">all results</a></nav>',
             pages.from_markdown([line for line in lead if not line.startswith("![")])]
    for heading, grid in tables.group_grids(table):
        parts += [f"<h2>{pages.inline(heading)}</h2>",
                  pages.table(grid, keep_last=bool(table.comparisons))]
    parts.append(pages.paragraphs([tables.LEGEND, *tables.notes(table)]))
    parts.append(pages.from_markdown(sections))
    if pngs:
        parts.append("<h2>Plots</h2>" + "".join(pages.figure(t, d) for t, d in pngs))
    return pages.page(tables.title(table, overlap), parts, provenance)


def _save(figure: Figure, stem: Path, title: str, lines: Sequence[str]) -> list[Path]:
    """``stem.png`` and ``stem.svg`` of ``figure`` (closed after), with provenance metadata."""
    paths = []
    try:
        for kind in ("png", "svg"):
            metadata = {"Title": title, "Description": " | ".join(lines)}
            path = stem.with_name(f"{stem.name}.{kind}")
            atomic_write(path, lambda tmp, k=kind, m=metadata: figure.savefig(
                tmp, format=k, dpi=150, metadata=m))
            paths.append(path)
    finally:
        plt.close(figure)
    return paths


def render_from_files(out_dir: Path, name: str) -> dict[str, Path]:
    """Render the page ``out_dir/<name>.html`` (and redraw ``out_dir/<name>/accuracy_vs_shots``)
    of a benchmark whose store is gone, from the files rendered before: its CSV (cells,
    marks, ranks and provenance lines), its Markdown's sections after the table (published
    numbers, time to accuracy) and its time-to-accuracy plot as drawn then. The paired tests
    are not in the CSV: the page says so.

    Raises:
        BenchmarkError: no such CSV, or not a transfer table CSV.
    """
    csv_path = out_dir / f"{name}.csv"
    try:
        text = csv_path.read_text()
    except OSError as err:
        raise BenchmarkError(f"cannot read {csv_path} ({err})") from None
    table = tables.table_from_csv(text)
    lines = [line[2:] for line in text.splitlines() if line.startswith("# ")]
    md_path = out_dir / f"{name}.md"
    markdown = md_path.read_text().splitlines() if md_path.is_file() else []
    start = next((i for i, line in enumerate(markdown) if line == "### Published vs ours"),
                 len(markdown))
    lead = _section(markdown, "### Accuracy at matched training compute",
                    "The transfer table below shows each run at its last mark.")
    note = (f"Rebuilt from `{csv_path.name}` (its store is not here): the paired Wilcoxon "
            f"tests (p) are in `{md_path.name}`.")
    title = f"{name}: accuracy vs shots"
    stem = out_dir / name / "accuracy_vs_shots"
    files = dict(zip(("accuracy_vs_shots.png", "accuracy_vs_shots.svg"),
                     _save(plots.accuracy_vs_shots(table), stem, title, lines)))
    overlap = classes_overlap(list(table.cells.itertuples()))
    kept = [(f"{name}: {png.stem.replace('_', ' ')}", png.read_bytes())
            for png in sorted((out_dir / name).glob("accuracy_vs_cpu_minutes_*.png"))]
    pngs = [*kept, (title, files["accuracy_vs_shots.png"].read_bytes())]
    drawn = out_dir / name / "time_to_accuracy.png"  # its curves are in the store: not redrawn
    if drawn.is_file():
        pngs.append((f"{name}: time to accuracy, as drawn when it ran (the small print under it "
                     "is that report's provenance, as in the footer)", drawn.read_bytes()))
    page = to_html(table, overlap, [note, *markdown[start:]], pngs, lines, lead)
    files["html"] = atomic_write_text(out_dir / f"{name}.html", page)
    return files


def _section(markdown: Sequence[str], first: str, last: str) -> list[str]:
    """The lines of ``markdown`` from the line ``first`` to the line ``last`` (empty when
    ``first`` is not there)."""
    if first not in markdown:
        return []
    start = markdown.index(first)
    end = markdown.index(last, start) + 1 if last in markdown[start:] else len(markdown)
    return list(markdown[start:end])


def render_benchmark(store: Store, benchmark: str, out_dir: Path,
                     command: str | None = None,
                     supervision: Mapping[str, str] | None = None,
                     planned: Sequence[tuple[str, int]] = ()) -> Report:
    """Write the plots of one benchmark of ``store`` into ``out_dir`` and its tables and page
    beside it (``table_paths``). The published numbers are matched by the supervision the rows
    store (``published.trained_with``); ``supervision`` (method label → labels/none, from the
    spec) stands in for rows older than that column. ``planned``: the spec's label × seed
    (when a run renders it), those not started named in the header."""
    rows = store.current_results(benchmark, with_episodes=True)  # not another config's rows
    supervision = published.trained_with(rows, supervision)
    table = tables.build_table(matched_compute.at_last_mark(rows), benchmark)
    table = replace(table, commits=tuple(sorted({r.commit for r in rows})))  # every mark's
    marked = matched_compute.build(rows, benchmark, supervision)
    curves = run_curves.benchmark_curves(store, benchmark)
    lines = [*provenance_lines(table, store.path, command or prov.command_line()),
             *budget_lines(rows, curves), *run_state_lines(store.runs(benchmark), rows, planned)]
    out_dir = Path(out_dir)
    methods = {r.method: (r.method_name, r.backbone) for r in rows}
    overlap = classes_overlap(rows)
    sections = [*published.markdown_lines(published.compare(
                    table, methods, supervision=supervision, variants=published.variants_of(rows))),
                *time_to_accuracy.markdown_lines(curves, f"{out_dir.name}/time_to_accuracy.png",
                                                 table.methods)]
    mark_plots = {f"accuracy_vs_cpu_minutes_{head}": head for head in matched_compute.heads(marked)}
    lead = matched_compute.markdown_lines(
        marked, [f"{out_dir.name}/{stem}.png" for stem in mark_plots])
    if marked:
        lead += ["The transfer table below shows each run at its last mark.", ""]
    markdown = "\n".join([
        f"# {benchmark}", "", *(f"- {line}" for line in lines), "", *lead,
        tables.to_markdown(table, [], overlap), *sections])
    draw: dict[str, Callable[[], Figure]] = {
        stem: (lambda h=head: matched_compute.plot(marked, h)) for stem, head in mark_plots.items()}
    draw["accuracy_vs_shots"] = lambda: plots.accuracy_vs_shots(table)
    if time_to_accuracy.has_curves(curves):
        draw["time_to_accuracy"] = lambda: time_plot.time_to_accuracy(curves, benchmark,
                                                                      table.methods)
    files = table_paths(out_dir)
    if marked:
        files.update({f"marks_{kind}": out_dir.parent / f"{out_dir.name}.marks.{suffix}"
                      for kind, suffix in (("latex", "tex"), ("csv", "csv"))})
    pngs: list[tuple[str, bytes]] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        sweep_temporary(out_dir)  # of a report killed half-way
        sweep_temporary(out_dir.parent, [path.name for path in files.values()])
        atomic_write_text(files["markdown"], markdown)
        atomic_write_text(files["latex"], tables.to_latex(table, lines, overlap))
        atomic_write_text(files["csv"], tables.to_csv(table, lines))
        if marked:
            atomic_write_text(files["marks_latex"], matched_compute.to_latex(marked, lines))
            atomic_write_text(files["marks_csv"], matched_compute.to_csv(marked, lines))
        for stem, figure in draw.items():
            title = f"{benchmark}: {stem.replace('_', ' ')}"
            png, svg = _save(figure(), out_dir / stem, title, lines)
            files.update({f"{stem}.png": png, f"{stem}.svg": svg})
            pngs.append((title, png.read_bytes()))
        atomic_write_text(files["html"], to_html(table, overlap, sections, pngs, lines, lead))
        for stem in PLOTS.difference(draw):  # a plot of an earlier report, not drawn now
            for kind in ("png", "svg"):
                (out_dir / f"{stem}.{kind}").unlink(missing_ok=True)
    except OSError as err:
        raise BenchmarkError(f"cannot write the report into {out_dir} ({err})") from None
    return Report(benchmark, markdown, files, table)


def run_state_lines(runs: Sequence[RunRecord], rows: Sequence[ResultRow],
                    planned: Sequence[tuple[str, int]] = ()) -> list[str]:
    """One header line per run whose rows are not in the table: each failed run, each run
    stopped by a signal (``interrupted by SIGTERM``: not finished, it resumes), each run
    still marked running (in progress elsewhere, or stopped before it finished: the run
    command resumes it) of which ``rows`` hold nothing, and each job of ``planned`` (the
    spec's label × seed, when a run renders the page) with neither a run nor a row."""
    shown = {(r.method, r.seed) for r in rows}
    known = shown | {(r.method, r.seed) for r in runs}
    stopped = [r for r in runs if r.status == "failed" and r.error.startswith(INTERRUPTED)]
    lines = [f"FAILED: {r.method} seed {r.seed}"
             + (f" at step {r.failed_step}" if r.failed_step is not None else "")
             + f" ({r.error or 'no message'}); no row of it is shown" for r in runs
             if r.status == "failed" and r not in stopped]
    return lines + [f"NOT FINISHED: {r.method} seed {r.seed} (running, or stopped before it "
                    f"finished: the run command resumes it); no row of it is shown"
                    for r in runs if r.status == "running" and (r.method, r.seed) not in shown] + [
        f"NOT FINISHED: {r.method} seed {r.seed} ({r.error}: the run command resumes it from "
        f"its last checkpoint); no row of it is shown" for r in stopped] + [
        f"NOT STARTED: {label} seed {seed} (in the spec, not yet run: the run command runs it)"
        for label, seed in planned if (label, seed) not in known]


def refresh_folder(root: Path, store: Store | None = None) -> list[Path]:
    """What every report written into the results folder ``root`` ends with (``benchmark
    report`` and ``benchmark run`` alike): its indexes, listing every report on disk
    (``benchmark.report.index.render_indexes``), and, given the ``store`` the report was
    rendered from, the export ``root/results.jsonl.gz`` brought up to date with it
    (``benchmark.export.write``); returns the paths written."""
    written = render_indexes(Path(root))
    if store is not None:
        written.append(export.write(store, Path(root) / export.FILE_NAME))
    return written


@contextmanager
def opened_store(store_path: Path, what: str) -> Iterator[Store]:
    """The store at ``store_path``, or, where there is none (a fresh clone), a temporary one
    holding the export beside it (``benchmark.export``)."""
    if store_path.is_file():
        with Store(store_path, read_only=True) as store:
            yield store
        return
    found = export.find(store_path)
    if found is None:
        raise BenchmarkError(f"store {store_path} does not exist and no export "
                             f"({export.FILE_NAME}) is beside it ({what} first)")
    with tempfile.TemporaryDirectory(prefix="benchmark-export-") as folder:
        with Store(Path(folder) / "store.sqlite") as store:
            export.load_into(found, store)
            try:
                yield store
            except BenchmarkError as err:  # name the export the user has, not our copy of it
                raise BenchmarkError(
                    str(err).replace(f"store {store.path}", f"the exported results {found}")
                    + f"; there is no store {store_path}: {what} to make one") from None


def render_store(store_path: str | Path, out_dir: str | Path = Path("results"),
                 benchmark_name: str | None = None) -> list[Report]:
    """Render every benchmark in the store but its ablations' (or only ``benchmark_name``):
    tables and page to ``out_dir/<benchmark>.{md,tex,csv,html}``, plots to
    ``out_dir/<benchmark>/``, the pages of the benchmarks reported in ``out_dir`` from another
    store (``render_from_files``), then ``refresh_folder`` (the indexes; the export, from a
    real store); print each Markdown text and the files written."""
    store_path = Path(store_path)
    with opened_store(store_path, "run a spec") as store:
        known = store.benchmarks()
        if benchmark_name is not None and benchmark_name not in known:
            raise BenchmarkError(f"no results for benchmark {benchmark_name!r} in {store_path} "
                                 f"(benchmarks: {', '.join(known) or 'none'})")
        of_ablations = _ablation_benchmarks(store)
        names = [benchmark_name] if benchmark_name else [n for n in known if n not in of_ablations]
        if not names:
            raise BenchmarkError(f"store {store_path} holds no benchmark results yet" + (
                f" (only ablations: --ablation {', '.join(store.ablations())})"
                if of_ablations else ""))
        folders = [Path(out_dir) / _file_name(name, store_path) for name in names]  # all first
        reports = [render_benchmark(store, name, folder) for name, folder in zip(names, folders)]
        if benchmark_name is None:  # the pages of benchmarks rendered from another store
            for name in sorted(set(benchmarks_on_disk(Path(out_dir))) - set(names)):
                print("wrote " + ", ".join(map(str, render_from_files(Path(out_dir), name).values())))
        written = refresh_folder(Path(out_dir), store if store_path.is_file() else None)
    for report in reports:
        print(report.markdown)
        print("wrote " + ", ".join(str(p) for p in report.files.values()))
    print("wrote " + ", ".join(map(str, written)))
    return reports


def _ablation_benchmarks(store: Store) -> set[str]:
    """The benchmarks of the store's ablations (their grid points and floors): reported in
    ``ablations/<name>/``, not as benchmarks of their own."""
    return {name for ablation in store.ablations()
            for name in (ablation, *(p.benchmark for p in store.ablation_points(ablation)))}


def _file_name(name: str, store_path: Path) -> str:
    """A stored benchmark name as a file name inside ``--out``: only a plain name is one (a
    stored name never chooses where the report goes: ``../x`` or ``/x`` is refused)."""
    if (name in ("", ".", "..") or any(c in name for c in "/\\\0")
            or len(f"{name}.html".encode()) > 255):
        raise BenchmarkError(f"store {store_path} holds benchmark name {name[:60]!r}"
                             f"{'...' if len(name) > 60 else ''}, not a plain file name: its "
                             f"report would be written outside --out; refused, nothing written")
    return name


def render_ablation_store(store_path: str | Path, ablation: str,
                          out_dir: str | Path = Path("results")) -> AblationReport:
    """Render one stored ablation into ``out_dir/ablations/<ablation>/``, then
    ``refresh_folder(out_dir)`` (the indexes; the export, from a real store), and print the
    page and the files written."""
    store_path = Path(store_path)
    folder = Path(out_dir) / "ablations"
    committed = folder / ablation / "index.md"
    with opened_store(store_path, "run the ablation's file, tasks/ablations/NAME.yaml,") as store:
        if ablation not in store.ablations() and committed.is_file():
            raise BenchmarkError(
                f"no ablation {ablation!r} in store {store.path} (ablations: "
                f"{', '.join(store.ablations()) or 'none'}); its report, without the rows, is "
                f"{committed}")
        report = render_ablation(store, ablation, folder / ablation)
        written = refresh_folder(Path(out_dir), store if store_path.is_file() else None)
    print(report.markdown)
    print("wrote " + ", ".join(str(p) for p in [*report.files.values(), *written]))
    return report
