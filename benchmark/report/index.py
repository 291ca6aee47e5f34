"""The indexes of a results folder, read from the reports on disk alone: ``index.html`` (a
contents list of every benchmark page and ablation report, then each benchmark's headline
tables) and ``ablations/index.md`` (one line per ablation report).

A benchmark is a ``<name>.csv`` with its ``<name>.md`` beside it (``<name>.html`` where it has a
page); an ablation is an ``ablations/<name>/index.md`` (``report.html`` beside it). The
headline tables are read back from each benchmark's CSV and an ablation's question and answer
from its ``index.md``, so an index lists every report in the folder and reads the same
whichever store rendered each report, or none.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from benchmark import provenance as prov
from benchmark.atomic import atomic_write_text
from benchmark.errors import BenchmarkError
from benchmark.report import tables
from benchmark.report import html as pages

ABLATIONS = "ablations"


@dataclass(frozen=True)
class AblationOnDisk:
    """An ablation report in a results folder: its name and what its ``index.md`` states."""

    name: str
    question: str
    answer: str


def benchmarks_on_disk(root: Path) -> list[str]:
    """The benchmarks reported in ``root``: every ``<name>.csv`` with a ``<name>.md``."""
    return sorted(p.stem for p in Path(root).glob("*.csv") if p.with_suffix(".md").is_file())


def ablations_on_disk(root: Path) -> list[AblationOnDisk]:
    """The ablation reports in ``root/ablations/``, with the question and answer each states."""
    found = []
    for page in sorted(Path(root).glob(f"{ABLATIONS}/*/index.md")):
        stated = {"Question": "", "Answer": ""}
        try:
            lines = page.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        for line in lines:
            for key in stated:
                if line.startswith(f"**{key}:**") and not stated[key]:
                    stated[key] = line[len(key) + 5:].strip()
        found.append(AblationOnDisk(page.parent.name, stated["Question"], stated["Answer"]))
    return found


def _page(root: Path, name: str) -> str:
    return f"{name}.html" if (root / f"{name}.html").is_file() else f"{name}.md"


def _headline(root: Path, name: str) -> list[str]:
    """A benchmark's headline tables, read back from its CSV."""
    parts = [f'<h3 id="{html.escape(name)}"><a href="{html.escape(_page(root, name))}">'
             f"{html.escape(name)}</a></h3>"]
    try:
        table = tables.table_from_csv((root / f"{name}.csv").read_text())
    except (OSError, BenchmarkError) as err:
        return [*parts, f"<p>Its CSV cannot be read back ({html.escape(str(err))}).</p>"]
    for heading, grid in tables.group_grids(table):
        parts += [f"<h4>{pages.inline(heading)}</h4>", pages.table(grid)]
    return parts


def _index_html(root: Path, benchmarks: list[str], ablations: list[AblationOnDisk]) -> str:
    esc = html.escape
    parts = ["<h1>Results</h1>", "<h2>Benchmarks</h2>"]
    parts.append("<ul>" + "".join(
        f'<li><a href="{esc(_page(root, n))}">{esc(n)}</a> '
        f'(<a href="#{esc(n)}">headline tables</a>)</li>' for n in benchmarks) + "</ul>"
        if benchmarks else "<p>No benchmark is reported here yet.</p>")
    parts.append("<h2>Ablations</h2>")
    parts.append("<ul>" + "".join(
        f'<li><a href="{ABLATIONS}/{esc(a.name)}/report.html">{esc(a.name)}</a>: '
        f"{pages.inline(a.question or '–')}"
        + (f"<br/><b>Answer:</b> {pages.inline(a.answer)}" if a.answer else "") + "</li>"
        for a in ablations) + "</ul>"
        if ablations else "<p>No ablation is reported here yet.</p>")
    if benchmarks:
        parts.append("<h2>Headline tables</h2>")
        parts.append(pages.paragraphs([
            tables.LEGEND, "Read back from each benchmark's CSV; the paired tests (p) are on "
            "its page."]))
        for name in benchmarks:
            parts += _headline(root, name)
    return pages.page("Results", parts, [f"made by: {prov.command_line()}",
                                         f"report commit: {prov.commit()}",
                                         "read from: the reports in this folder"])


def _ablation_index_md(ablations: list[AblationOnDisk]) -> str:
    lines = ["# Ablations", ""]
    lines += [f"- [{a.name}]({a.name}/index.md) ([HTML]({a.name}/report.html)): "
              f"{a.question or '–'}" for a in ablations]
    lines += ["", f"<sub>made by: {prov.command_line()}; commit {prov.commit()}; read from: "
              "the reports in this folder</sub>"]
    return "\n".join(lines) + "\n"


def render_indexes(root: Path) -> list[Path]:
    """Write ``root/index.html`` and, where ``root`` holds an ablation report,
    ``root/ablations/index.md``, each listing every report in ``root`` (atomically); returns
    the paths written."""
    root = Path(root)
    ablations = ablations_on_disk(root)
    written = [atomic_write_text(root / "index.html",
                                 _index_html(root, benchmarks_on_disk(root), ablations))]
    if ablations:
        written.append(atomic_write_text(root / ABLATIONS / "index.md",
                                         _ablation_index_md(ablations)))
    return written
