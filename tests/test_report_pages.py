"""The HTML pages in a real browser: every benchmark page and ``index.html`` open in headless
Chromium (Debian's ``chromium`` package; skipped, saying why, where it is not installed) with
every table, plot and link present and nothing logged to the console as an error; and the
pages' pieces (one table per evaluation split, no provenance drawn into the figures, one line
when no run has a validation curve, the heat map's axes and key)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from benchmark.errors import BenchmarkError
from benchmark.report import ablation_plots
from benchmark.report.ablation import render_ablation
from benchmark.report.ablation_analysis import analyse
from benchmark.report.render import render_store
from benchmark.store import RunRecord, Store
from test_ablation_report import sweep
from test_report import synthetic_rows

BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                if p), None)
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no headless browser: install Debian's chromium "
    "(apt-get install -y chromium) to open the report pages")


class _Page(HTMLParser):
    """What a page holds: tables, images (their sources), links, and the ids links can name."""

    def __init__(self) -> None:
        super().__init__()
        self.tables, self.images, self.links, self.rows, self.ids = 0, [], [], 0, set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"])
        self.tables += tag == "table"
        self.rows += tag == "tr"
        if tag == "img":
            self.images.append(found.get("src") or "")
        if tag == "a":
            self.links.append(found.get("href") or "")


def open_in_browser(page: Path, tmp_path: Path) -> tuple[_Page, str]:
    """The DOM after scripts ran (parsed) and the browser's console log."""
    done = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=2000",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = _Page()
    parsed.feed(done.stdout)
    return parsed, done.stderr


def console_errors(log: str) -> list[str]:
    """The console messages and uncaught errors of a page in Chromium's log."""
    return [line for line in log.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "ERROR:" in line and ".js" in line]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder of one benchmark (rows with and without a curve) and one ablation."""
    tmp = tmp_path_factory.mktemp("pages")
    with sweep(tmp, {0.1: 0.70, 0.5: 0.80}) as store:
        store.put_results(synthetic_rows())
        store.set_run(RunRecord("synth", "protonet", 0, "done", steps=3, device="cpu",
                                        spec_hash="hash-protonet"))
        render_ablation(store, "temp", tmp / "out" / "ablations" / "temp", command="test")
    render_store(tmp / "r.sqlite", out_dir=tmp / "out", benchmark_name="synth")
    return tmp / "out"


@needs_browser
@pytest.mark.parametrize("name, tables, images", [
    ("synth.html", 1, 1),                 # one table per split; the plot
    ("index.html", 1, 0),                 # the headline table
    ("ablations/temp/report.html", 1, 1),
])
def test_pages_open_whole_in_a_browser(rendered: Path, tmp_path: Path, name: str, tables: int,
                                       images: int) -> None:
    page, log = open_in_browser(rendered / name, tmp_path)
    assert page.tables >= tables and len(page.images) == images
    assert all(src.startswith("data:image/png;base64,") and len(src) > 1000
               for src in page.images)
    for link in page.links:  # a file beside the page, or an anchor on it
        assert (link[1:] in page.ids if link.startswith("#")
                else (rendered / name).parent.joinpath(link).is_file()), link
    assert not console_errors(log), console_errors(log)


@needs_browser
def test_the_console_check_catches_a_broken_script(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>notDefined();</script></body></html>")
    _, log = open_in_browser(broken, tmp_path)
    assert console_errors(log)


def test_index_links_every_benchmark_and_ablation(rendered: Path) -> None:
    text = (rendered / "index.html").read_text()
    assert 'href="synth.html"' in text and 'href="ablations/temp/report.html"' in text
    assert "Which temperature is best?" in text and "omniglot/evaluation" in text
    assert "<script>" in text and "http" not in text.split("<footer>")[0]  # nothing fetched


def test_benchmark_page_has_paper_tables_and_provenance_once(rendered: Path) -> None:
    text = (rendered / "synth.html").read_text()
    assert text.count("made by:") == 1 and "Published vs ours" in text
    assert text.count('<table class="sortable" data-keep-last="1">') == 1
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", text).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["method", "5w1s", "5w5s", "rank (all)"]


def test_no_validation_curve_is_said_once_without_a_plot(rendered: Path) -> None:
    markdown = (rendered / "synth.md").read_text()
    assert markdown.count("No run has a validation curve") == 1 and "no curve" not in markdown
    assert not (rendered / "synth" / "time_to_accuracy.png").exists()


def test_figures_carry_no_provenance_text(rendered: Path) -> None:
    svg = (rendered / "synth" / "accuracy_vs_shots.svg").read_text()
    drawn = svg.split("</metadata>")[-1]
    assert "hash-protonet" in svg and "hash-protonet" not in drawn and "made by" not in drawn


def test_heat_map_names_training_ways_and_shots_and_its_mark(tmp_path: Path) -> None:
    import json

    from benchmark.store import AblationPoint
    from test_ablation_report import draw, row

    with Store(tmp_path / "r.sqlite") as store:
        points, rows = [], []
        for i, (ways, shots) in enumerate([(5, 1), (5, 5), (20, 1), (20, 5)]):
            bench = f"ws/{ways}-{shots}"
            points.append(AblationPoint("ws", f"w{ways}-s{shots}", i, bench, json.dumps(
                {"methods[0].ways": ways, "methods[0].shots": shots}), "q"))
            rows.append(row(bench, "protonet", draw(0.5 + i / 20)))
        store.put_results(rows)
        store.put_ablation_points(points)
        analysis = analyse(store, "ws")
    figure = ablation_plots.heat_map(analysis, analysis.columns[0])
    ax = figure.axes[0]
    texts = [t.get_text() for t in figure.texts]
    assert ax.get_ylabel() == "training ways (methods[0].ways)"
    assert ax.get_xlabel() == "training shots (methods[0].shots)"
    assert ablation_plots.HEAT_KEY in texts and "*: best" in ablation_plots.HEAT_KEY


@pytest.mark.parametrize("train, evaluated, overlap", [
    (("mnist", "train"), ("mnist", "test"), True),
    (("cifar10", "train"), ("cifar10", "fewshot_test→auto"), True),
    (("omniglot", "background"), ("omniglot", "evaluation"), False),
    (("omniglot", "background"), ("mnist", "test"), False),
])
def test_a_title_says_when_training_and_evaluation_classes_overlap(train, evaluated,
                                                                  overlap: bool) -> None:
    from dataclasses import replace

    from benchmark.report import tables
    from benchmark.report.render import classes_overlap

    rows = [replace(r, train_dataset=train[0], train_split=train[1], eval_dataset=evaluated[0],
                    eval_split=evaluated[1]) for r in synthetic_rows()]
    assert classes_overlap(rows) is overlap
    title = tables.title(tables.build_table(rows, "synth"), classes_overlap(rows))
    assert ("overlap" in title) is overlap and ("transfer accuracy" in title) is not overlap


def test_a_page_is_rebuilt_from_the_files_of_a_gone_store(rendered: Path, tmp_path: Path) -> None:
    import shutil

    from benchmark.report import tables
    from benchmark.report.render import render_from_files

    table = tables.build_table(synthetic_rows(), "synth")
    back = tables.table_from_csv((rendered / "synth.csv").read_text())
    assert back.methods == table.methods and back.columns == table.columns
    assert back.ranks == pytest.approx(table.ranks) and back.comparisons == {}
    assert list(back.cells.best) == list(table.cells.best)
    folder = tmp_path / "results"
    folder.mkdir()
    for name in ("synth.csv", "synth.md"):
        shutil.copy(rendered / name, folder / name)
    files = render_from_files(folder, "synth")
    text = files["html"].read_text()
    assert "Rebuilt from <code>synth.csv</code>" in text and "Published vs ours" in text
    assert "p (best vs 2nd)" not in text and text.count("made by:") == 1
    assert text.count("<img") == 1
    (folder / "synth" / "time_to_accuracy.png").write_bytes(  # drawn when the store was here
        (folder / "synth" / "accuracy_vs_shots.png").read_bytes())
    text = render_from_files(folder, "synth")["html"].read_text()
    assert text.count("<img") == 2 and "time to accuracy, as drawn when it ran" in text
    with pytest.raises(BenchmarkError, match="not a transfer table CSV"):
        tables.table_from_csv("a,b\n1,2\n")


def test_a_plot_not_drawn_now_is_not_left_from_an_earlier_report(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as store:
        store.put_results(synthetic_rows())  # no run has a validation curve
    stale = tmp_path / "out" / "synth" / "time_to_accuracy.svg"
    stale.parent.mkdir(parents=True)
    stale.write_text("<svg/>")
    render_store(tmp_path / "r.sqlite", out_dir=tmp_path / "out", benchmark_name="synth")
    assert not stale.exists() and (stale.parent / "accuracy_vs_shots.svg").is_file()
