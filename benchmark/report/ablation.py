"""Render one ablation from the store into a folder, atomically (its line in the ablations'
index: ``benchmark.report.index``).

Files (in ``out_dir``): ``index.md`` (question, generated answer, tables, plots), a
self-contained ``report.html`` (the same, plots embedded as base64 PNG), ``table.csv`` (the
tidy numbers) and one ``<cell>.png`` / ``.svg`` figure per evaluation cell. Each carries the
provenance lines (command, commits, store, spec hashes, devices, budget).
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt

from benchmark import provenance as prov
from benchmark.atomic import atomic_write, atomic_write_text
from benchmark.report import ablation_plots, ablation_text as text, tables
from benchmark.report import html as pages
from benchmark.report.ablation_analysis import Ablation, analyse
from benchmark.store import Store


@dataclass(frozen=True)
class AblationReport:
    """What ``render_ablation`` wrote: the analysis, the Markdown page and the paths by kind
    (``markdown``, ``html``, ``csv``, and ``<cell>.png`` / ``<cell>.svg`` per figure)."""

    ablation: Ablation
    markdown: str
    files: dict[str, Path]


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()


def _sections(ablation: Ablation) -> list[tuple[str, list[list[str]]]]:
    """(heading, grid) of every table: one per series, then the floor within the points."""
    tables = [(f"{series}" if len(ablation.series) > 1 else "", text.series_grid(ablation, series))
              for series in ablation.series]
    if ablation.floor_points:
        tables.append((f"floor ({ablation.floor_label}), measured at every point",
                       text.floor_grid(ablation)))
    return tables


def to_markdown(ablation: Ablation, sentences: Sequence[str], figures: Sequence[tuple[str, str]],
                provenance: Sequence[str]) -> str:
    """The page: question, generated answer, per-cell sentences, tables, plots, provenance."""
    lines = [f"# Ablation: {ablation.name}", "", f"**Question:** {ablation.question or '–'}", "",
             f"**Answer:** {text.overall_sentence(ablation)}", ""]
    lines += [f"- {s}" for s in sentences] + ["", "## Accuracy", ""]
    for heading, grid in _sections(ablation):
        lines += ([f"### {heading}", ""] if heading else []) + tables.markdown_grid([[c.replace("|", "\\|") for c in row] for row in grid]) + [""]
    lines += [text.caption(ablation), "", "## Plots", ""]
    lines += [f"![{title}]({name})" for title, name in figures] + [""]
    lines += [f"<sub>{line}</sub>  " for line in provenance]
    return "\n".join(lines).rstrip() + "\n"


def to_html(ablation: Ablation, sentences: Sequence[str], pngs: Sequence[tuple[str, bytes]],
            provenance: Sequence[str]) -> str:
    """The same page as one self-contained HTML file (figures as base64 PNG data URIs)."""
    esc = html.escape
    parts = [f"<h1>Ablation: {esc(ablation.name)}</h1>",
             '<nav><a href="../../index.html">all results</a></nav>',
             f"<p><b>Question:</b> {esc(ablation.question or '–')}</p>",
             f"<p><b>Answer:</b> {esc(text.overall_sentence(ablation))}</p>",
             "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>",
             "<h2>Accuracy</h2>"]
    for heading, grid in _sections(ablation):
        parts += ([f"<h3>{esc(heading)}</h3>"] if heading else []) + [pages.table(grid)]
    parts.append(pages.paragraphs([text.caption(ablation)]) + "<h2>Plots</h2>")
    parts += [pages.figure(title, data) for title, data in pngs]
    return pages.page(f"Ablation: {ablation.name}", parts, provenance)


def render_ablation(store: Store, ablation: str, out_dir: Path,
                    command: str | None = None) -> AblationReport:
    """Analyse one stored ablation and write its page, HTML, CSV and figures into ``out_dir``.

    Raises:
        BenchmarkError: no points or no rows for the ablation; a file cannot be written.
    """
    analysis = analyse(store, ablation)
    lines = text.provenance_lines(analysis, store.path, command or prov.command_line())
    out_dir = Path(out_dir)
    files = {"markdown": out_dir / "index.md", "html": out_dir / "report.html",
             "csv": out_dir / "table.csv"}
    sentences = [text.cell_sentence(analysis, series, column)
                 for series, columns in analysis.series.items() for column in analysis.columns
                 if column in columns]
    figures: list[tuple[str, str]] = []
    pngs: list[tuple[str, bytes]] = []
    for column in analysis.columns:
        title, stem = column.title(True), _slug(column.title(True))
        figure = ablation_plots.figure_for(analysis, column)
        try:
            metadata = {"Title": f"{ablation}: {title}", "Description": " | ".join(lines)}
            for kind in ("png", "svg"):
                buffer = io.BytesIO()
                figure.savefig(buffer, format=kind, dpi=150, metadata=metadata)
                data = buffer.getvalue()
                files[f"{stem}.{kind}"] = atomic_write(out_dir / f"{stem}.{kind}",
                                                       lambda h, d=data: h.write(d))
                if kind == "png":
                    pngs.append((title, data))
        finally:
            plt.close(figure)
        figures.append((title, f"{stem}.png"))
    markdown = to_markdown(analysis, sentences, figures, lines)
    atomic_write_text(files["markdown"], markdown)
    atomic_write_text(files["html"], to_html(analysis, sentences, pngs, lines))
    atomic_write_text(files["csv"], "".join(f"# {line}\n" for line in lines)
                      + text.csv_frame(analysis).to_csv(index=False, float_format="%.6f"))
    return AblationReport(analysis, markdown, files)
