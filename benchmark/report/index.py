"""``results/index.html``: one self-contained page linking every benchmark page and every
ablation report, with each benchmark's headline tables (one per evaluation split and head) and
each ablation's question and answer.

Benchmarks whose rows are not in the store but whose Markdown tables are in the folder (rendered
from another store) are linked too, so the index names everything the folder shows.
"""

from __future__ import annotations

import html
from pathlib import Path

from benchmark import provenance as prov
from benchmark.atomic import atomic_write_text
from benchmark.errors import BenchmarkError
from benchmark.report import ablation_text, tables
from benchmark.report import html as pages
from benchmark.report.ablation_analysis import analyse
from benchmark.store import Store


def _benchmark_section(store: Store, name: str, out_dir: Path) -> list[str]:
    table = tables.build_table(store.results(name, with_episodes=True), name)
    parts = [f'<h3><a href="{html.escape(_page(out_dir, name))}">{html.escape(name)}</a></h3>']
    for heading, grid in tables.group_grids(table):
        parts += [f"<h4>{pages.inline(heading)}</h4>", pages.table(grid, keep_last=bool(table.comparisons))]
    return parts


def _rendered_section(out_dir: Path, name: str) -> list[str]:
    """A benchmark rendered from another store: its link, and its headline tables read back
    from its CSV where there is one (the paired tests are on its page)."""
    link = f'<h3><a href="{html.escape(_page(out_dir, name))}">{html.escape(name)}</a></h3>'
    note = "<p>Rendered from another store; read back from its CSV (the paired tests are on its page).</p>"
    try:
        table = tables.table_from_csv((out_dir / f"{name}.csv").read_text())
    except (OSError, BenchmarkError):
        return [link, "<p>Rendered from another store (its rows are not in this one).</p>"]
    parts = [link, note]
    for heading, grid in tables.group_grids(table):
        parts += [f"<h4>{pages.inline(heading)}</h4>", pages.table(grid)]
    return parts


def _ablation_item(store: Store, name: str) -> str:
    link = f'<a href="ablations/{html.escape(name)}/report.html">{html.escape(name)}</a>'
    try:
        analysis = analyse(store, name)
    except BenchmarkError as err:
        return f"<li>{link}: {html.escape(str(err))}</li>"
    return (f"<li>{link}: {html.escape(analysis.question or '–')} <b>Answer:</b> "
            f"{pages.inline(ablation_text.overall_sentence(analysis))}</li>")


def render_index(store: Store, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` from ``store`` (and the Markdown tables already in
    ``out_dir``); returns its path."""
    out_dir = Path(out_dir)
    stored = store.benchmarks()
    ablations = store.ablations()
    points = {p.benchmark for a in ablations for p in store.ablation_points(a)}
    benchmarks = [n for n in stored if n not in points and n not in ablations]
    parts = ["<h1>Results</h1>", "<h2>Benchmarks</h2>"]
    for name in benchmarks:
        parts += _benchmark_section(store, name, out_dir)
    others = sorted(p.stem for p in out_dir.glob("*.md")
                    if p.stem not in stored and not p.stem.startswith(("perf_", "README", "index")))
    for name in others:
        parts += _rendered_section(out_dir, name)
    if not benchmarks and not others:
        parts.append("<p>No benchmark is stored yet.</p>")
    parts.append("<h2>Ablations</h2>")
    items = [_ablation_item(store, n) for n in ablations]
    items += [f'<li><a href="ablations/{html.escape(p.parent.name)}/report.html">'
              f"{html.escape(p.parent.name)}</a> (rendered from another store)</li>"
              for p in sorted(out_dir.glob("ablations/*/report.html"))
              if p.parent.name not in ablations]
    parts.append("<ul>" + "".join(items) + "</ul>" if items
                 else "<p>No ablation is stored yet.</p>")
    parts.append(pages.paragraphs([tables.LEGEND]))
    lines = [f"made by: {prov.command_line()}", f"report commit: {prov.commit()}",
             f"store: {store.path}"]
    return atomic_write_text(out_dir / "index.html", pages.page("Results", parts, lines))


def _page(out_dir: Path, name: str) -> str:
    return f"{name}.html" if (out_dir / f"{name}.html").is_file() else f"{name}.md"

