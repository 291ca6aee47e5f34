"""Render a benchmark's tables and plot from the store into a folder, atomically (and, with
``render_ablation_store``, one stored ablation's report).

Files (in ``out_dir``): ``transfer.md``, ``transfer.tex``, ``transfer.csv``,
``accuracy_vs_shots.png`` and ``.svg``. Each states the command that made it, the commit, the
store path and the spec hash(es) of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt

from benchmark import provenance as prov
from benchmark.atomic import atomic_write, atomic_write_text
from benchmark.errors import BenchmarkError
from benchmark.report import plots, tables
from benchmark.report.ablation import AblationReport, render_ablation, render_ablation_index
from benchmark.store import Store


@dataclass(frozen=True)
class Report:
    """What ``render_benchmark`` wrote: the Markdown text and the paths by kind."""

    benchmark: str
    markdown: str
    files: dict[str, Path]
    table: tables.TransferTable


def provenance_lines(table: tables.TransferTable, store_path: Path, command: str) -> list[str]:
    """The lines every rendered file carries."""
    return [
        f"made by: {command}",
        f"report commit: {prov.commit()}; result commits: {', '.join(table.commits)}",
        f"store: {store_path}",
        f"spec hashes: {', '.join(table.spec_hashes)}",
    ]


def render_benchmark(store: Store, benchmark: str, out_dir: Path,
                     command: str | None = None) -> Report:
    """Write the tables and the plot of one benchmark of ``store`` into ``out_dir``."""
    table = tables.build_table(store.results(benchmark, with_episodes=True), benchmark)
    lines = provenance_lines(table, store.path, command or prov.command_line())
    out_dir = Path(out_dir)
    markdown = tables.to_markdown(table, lines)
    files = {kind: out_dir / name for kind, name in (
        ("markdown", "transfer.md"), ("latex", "transfer.tex"), ("csv", "transfer.csv"),
        ("png", "accuracy_vs_shots.png"), ("svg", "accuracy_vs_shots.svg"))}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(files["markdown"], markdown)
        atomic_write_text(files["latex"], tables.to_latex(table, lines))
        atomic_write_text(files["csv"], tables.to_csv(table, lines))
        figure = plots.accuracy_vs_shots(table, lines)
        try:
            for kind in ("png", "svg"):
                metadata = {"Title": f"{benchmark}: accuracy vs shots",
                            "Description": " | ".join(lines)}
                atomic_write(files[kind], lambda tmp, k=kind, m=metadata: figure.savefig(
                    tmp, format=k, dpi=150, metadata=m))
        finally:
            plt.close(figure)
    except OSError as err:
        raise BenchmarkError(f"cannot write the report into {out_dir} ({err})") from None
    return Report(benchmark, markdown, files, table)


def render_store(store_path: str | Path, out_dir: str | Path = Path("results"),
                 benchmark_name: str | None = None) -> list[Report]:
    """Render every benchmark in the store (or only ``benchmark_name``) into
    ``out_dir/<benchmark>/``, and print each Markdown table and the files written."""
    store_path = Path(store_path)
    if not store_path.is_file():
        raise BenchmarkError(f"store {store_path} does not exist (run a spec first)")
    with Store(store_path) as store:
        known = store.benchmarks()
        if benchmark_name is not None and benchmark_name not in known:
            raise BenchmarkError(f"no results for benchmark {benchmark_name!r} in {store_path} "
                                 f"(benchmarks: {', '.join(known) or 'none'})")
        names = [benchmark_name] if benchmark_name else known
        if not names:
            raise BenchmarkError(f"store {store_path} holds no results yet")
        reports = [render_benchmark(store, name, Path(out_dir) / name) for name in names]
    for report in reports:
        print(report.markdown)
        print("wrote " + ", ".join(str(p) for p in report.files.values()))
    return reports


def render_ablation_store(store_path: str | Path, ablation: str,
                          out_dir: str | Path = Path("results")) -> AblationReport:
    """Render one stored ablation into ``out_dir/ablations/<ablation>/``, refresh the index
    ``out_dir/ablations/index.md``, and print the page and the files written."""
    store_path = Path(store_path)
    if not store_path.is_file():
        raise BenchmarkError(f"store {store_path} does not exist (run an ablation first)")
    folder = Path(out_dir) / "ablations"
    with Store(store_path) as store:
        report = render_ablation(store, ablation, folder / ablation)
        index = render_ablation_index(store, folder)
    print(report.markdown)
    print("wrote " + ", ".join(str(p) for p in [*report.files.values(), index]))
    return report
