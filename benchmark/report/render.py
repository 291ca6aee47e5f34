"""Render a benchmark's tables and plots from the store, atomically (and, with
``render_ablation_store``, one stored ablation's report).

``render_benchmark(store, name, folder)`` writes the plots into ``folder``
(``accuracy_vs_shots`` and ``time_to_accuracy``, ``.png`` and ``.svg``) and the tables beside
it, named after it: ``<folder>.md``, ``<folder>.tex``, ``<folder>.csv`` (so the default folder
``results/<benchmark>/`` gives ``results/<benchmark>.md``). Each file is headed by the command
that made it, the commits, the store, the spec hashes, the devices, the wall time and the budget;
the Markdown adds the published numbers of matching cells and the time-to-accuracy section.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from benchmark import provenance as prov
from benchmark.atomic import atomic_write, atomic_write_text, sweep_temporary
from benchmark.errors import BenchmarkError
from benchmark.report import curves as run_curves
from benchmark.report import plots, published, tables, time_plot, time_to_accuracy
from benchmark.report.ablation import AblationReport, render_ablation, render_ablation_index
from benchmark.report.header import budget_lines
from benchmark.store import RunRecord, Store


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
    """Where the tables of the benchmark whose plots are in ``folder`` go: beside it."""
    return {kind: folder.parent / f"{folder.name}.{suffix}"
            for kind, suffix in (("markdown", "md"), ("latex", "tex"), ("csv", "csv"))}


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


def render_benchmark(store: Store, benchmark: str, out_dir: Path,
                     command: str | None = None) -> Report:
    """Write the plots of one benchmark of ``store`` into ``out_dir`` and its tables beside it
    (``table_paths``)."""
    rows = store.current_results(benchmark, with_episodes=True)  # not another config's rows
    table = tables.build_table(rows, benchmark)
    curves = run_curves.benchmark_curves(store, benchmark)
    lines = [*provenance_lines(table, store.path, command or prov.command_line()),
             *budget_lines(rows, curves), *failed_lines(store.runs(benchmark))]
    out_dir = Path(out_dir)
    methods = {r.method: (r.method_name, r.backbone) for r in rows}
    markdown = "\n".join([
        f"# {benchmark}", "", *(f"- {line}" for line in lines), "",
        tables.to_markdown(table, []),
        *published.markdown_lines(published.compare(table, methods)),
        *time_to_accuracy.markdown_lines(curves, f"{out_dir.name}/time_to_accuracy.png",
                                         table.methods),
    ])
    draw: dict[str, Callable[[], Figure]] = {
        "accuracy_vs_shots": lambda: plots.accuracy_vs_shots(table, lines),
        "time_to_accuracy": lambda: time_plot.time_to_accuracy(curves, benchmark, lines,
                                                               table.methods),
    }
    files = table_paths(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        sweep_temporary(out_dir)  # of a report killed half-way
        sweep_temporary(out_dir.parent, [path.name for path in files.values()])
        atomic_write_text(files["markdown"], markdown)
        atomic_write_text(files["latex"], tables.to_latex(table, lines))
        atomic_write_text(files["csv"], tables.to_csv(table, lines))
        for stem, figure in draw.items():
            title = f"{benchmark}: {stem.replace('_', ' ')}"
            png, svg = _save(figure(), out_dir / stem, title, lines)
            files.update({f"{stem}.png": png, f"{stem}.svg": svg})
    except OSError as err:
        raise BenchmarkError(f"cannot write the report into {out_dir} ({err})") from None
    return Report(benchmark, markdown, files, table)


def failed_lines(runs: Sequence[RunRecord]) -> list[str]:
    """One header line per failed run: its rows are not in the table."""
    return [f"FAILED: {r.method} seed {r.seed}"
            + (f" at step {r.failed_step}" if r.failed_step is not None else "")
            + f" ({r.error or 'no message'}); no row of it is shown" for r in runs
            if r.status == "failed"]


def render_store(store_path: str | Path, out_dir: str | Path = Path("results"),
                 benchmark_name: str | None = None) -> list[Report]:
    """Render every benchmark in the store (or only ``benchmark_name``): tables to
    ``out_dir/<benchmark>.{md,tex,csv}``, plots to ``out_dir/<benchmark>/``; print each
    Markdown text and the files written."""
    store_path = Path(store_path)
    if not store_path.is_file():
        raise BenchmarkError(f"store {store_path} does not exist (run a spec first)")
    with Store(store_path, read_only=True) as store:
        known = store.benchmarks()
        if benchmark_name is not None and benchmark_name not in known:
            raise BenchmarkError(f"no results for benchmark {benchmark_name!r} in {store_path} "
                                 f"(benchmarks: {', '.join(known) or 'none'})")
        names = [benchmark_name] if benchmark_name else known
        if not names:
            raise BenchmarkError(f"store {store_path} holds no results yet")
        folders = [Path(out_dir) / _file_name(name, store_path) for name in names]  # all first
        reports = [render_benchmark(store, name, folder) for name, folder in zip(names, folders)]
    for report in reports:
        print(report.markdown)
        print("wrote " + ", ".join(str(p) for p in report.files.values()))
    return reports


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
    """Render one stored ablation into ``out_dir/ablations/<ablation>/``, refresh the index
    ``out_dir/ablations/index.md``, and print the page and the files written."""
    store_path = Path(store_path)
    if not store_path.is_file():
        raise BenchmarkError(f"store {store_path} does not exist (run an ablation first)")
    folder = Path(out_dir) / "ablations"
    with Store(store_path, read_only=True) as store:
        report = render_ablation(store, ablation, folder / ablation)
        index = render_ablation_index(store, folder)
    print(report.markdown)
    print("wrote " + ", ".join(str(p) for p in [*report.files.values(), index]))
    return report
