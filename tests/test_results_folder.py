"""A results folder's indexes and export: ``index.html`` and ``ablations/index.md`` list every
report on disk and read the same whichever store rendered them; the export
(``results.jsonl.gz``) gains each store's rows and keeps the others'."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark import export
from benchmark.errors import BenchmarkError
from benchmark.report.index import render_indexes
from benchmark.report.render import render_ablation_store, render_store
from benchmark.store import RunRecord, Store, ValidationCurve
from test_ablation_report import sweep
from test_report import synthetic_rows


def _body(path: Path) -> str:
    """A page without its provenance footer (the command that made it)."""
    return re.sub(r"<footer>.*?</footer>|<sub>.*?</sub>", "", path.read_text(), flags=re.S)


def _two_stores(tmp_path: Path) -> tuple[Path, Path]:
    """Store ``a`` holds benchmark ``synth`` and ablation ``temp``; store ``b`` holds benchmark
    ``other`` only."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with sweep(tmp_path / "a", {0.1: 0.70, 0.5: 0.80}) as store:
        store.put_results(synthetic_rows())
    with Store(tmp_path / "b" / "r.sqlite") as store:
        store.put_results([replace(r, benchmark="other") for r in synthetic_rows()])
    return tmp_path / "a" / "r.sqlite", tmp_path / "b" / "r.sqlite"


def test_the_indexes_list_every_report_on_disk_whichever_store_rendered_last(
        tmp_path: Path) -> None:
    a, b = _two_stores(tmp_path)
    out = tmp_path / "results"
    render_store(a, out_dir=out)
    render_ablation_store(a, "temp", out_dir=out)
    render_store(b, out_dir=out)  # a store that holds neither synth nor temp
    after_b = {name: _body(out / name) for name in ("index.html", "ablations/index.md")}
    page = after_b["index.html"]
    for link in ('href="synth.html"', 'href="other.html"', 'href="ablations/temp/report.html"'):
        assert link in page
    assert "Which temperature is best?" in page and "<b>Answer:</b> Overall" in page
    assert page.count("<h3 id=") == 2 and "omniglot/evaluation" in page  # headline tables
    assert "[temp](temp/index.md)" in after_b["ablations/index.md"]
    render_indexes(out)  # no store at all
    assert {name: _body(out / name) for name in after_b} == after_b
    render_store(a, out_dir=out)
    assert {name: _body(out / name) for name in after_b} == after_b


def test_the_index_lists_no_ablation_points_and_no_stray_markdown(tmp_path: Path) -> None:
    a, _ = _two_stores(tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.md").write_text("# not a benchmark\n")  # Markdown without a CSV
    render_store(a, out_dir=out)  # every benchmark: the ablation's points are not among them
    page = (out / "index.html").read_text()
    assert "notes" not in page and "temperature-0.1" not in page
    assert sorted(p.name for p in out.glob("*.csv")) == ["synth.csv"]


def test_the_export_gains_each_stores_benchmarks_and_keeps_the_others(tmp_path: Path) -> None:
    a, b = _two_stores(tmp_path)
    out = tmp_path / "results"
    render_store(a, out_dir=out)
    render_store(b, out_dir=out)
    found = export.read(out / export.FILE_NAME)
    assert {r.benchmark for r in found["results"]} >= {"synth", "other"}
    assert {p.ablation for p in found["ablation_points"]} == {"temp"}
    first = (out / export.FILE_NAME).read_bytes()
    with Store(b) as store:  # b's rows again: the same bytes
        assert export.write(store, out / export.FILE_NAME).read_bytes() == first
        store.put_results([replace(r, accuracy=0.5) for r in store.results("other")])
        export.write(store, out / export.FILE_NAME)
    rows = export.read(out / export.FILE_NAME)["results"]
    assert {r.accuracy for r in rows if r.benchmark == "other"} == {0.5}  # replaced, not added
    assert len(rows) == len(found["results"])


def test_the_export_carries_each_runs_validation_curve_to_another_store(tmp_path: Path) -> None:
    """A run's curve goes into the export with its run, comes back into a store made from the
    export whole, and is kept for the runs a later store does not hold."""
    curve = ValidationCurve("synth", "protonet", 0, "h", steps=(100, 200), seconds=(6.5, 13.0),
                            val_acc=(0.5, 0.75), total_steps=250, total_seconds=16.25,
                            day="2026-12-07")
    with Store(tmp_path / "a.sqlite") as store:
        store.put_results(synthetic_rows(), RunRecord("synth", "protonet", 0, "done",
                                                      spec_hash="h"), curve=curve)
        export.write(store, tmp_path / export.FILE_NAME)
    with Store(tmp_path / "b.sqlite") as fresh:
        export.load_into(tmp_path / export.FILE_NAME, fresh)
        assert fresh.curves() == [curve]
    with Store(tmp_path / "c.sqlite") as other:  # holds another benchmark only
        other.put_results([replace(r, benchmark="other") for r in synthetic_rows()])
        export.write(other, tmp_path / export.FILE_NAME)
    assert export.read(tmp_path / export.FILE_NAME)["curves"] == [curve]


def test_a_fresh_clones_export_renders_its_ablations_and_names_itself_for_the_others(
        tmp_path: Path) -> None:
    """No store beside the export (a fresh clone): ``report --ablation`` renders an exported
    ablation, and for one the export lacks says which file it read and how to make it, not the
    temporary copy it was read through."""
    a, _ = _two_stores(tmp_path)
    shipped = tmp_path / "clone" / "results"
    render_store(a, out_dir=shipped)  # writes the export beside the pages
    absent = shipped / "results.sqlite"
    report = render_ablation_store(absent, "temp", out_dir=shipped)
    assert (shipped / "ablations" / "temp" / "report.html").is_file() and report.markdown
    with pytest.raises(BenchmarkError) as refused:
        render_ablation_store(absent, "glyph_recipe", out_dir=shipped)
    message = str(refused.value)
    assert str(shipped / export.FILE_NAME) in message and "tasks/ablations/" in message
    assert "benchmark-export-" not in message and "(ablations: temp)" in message
    assert "its report" not in message
    # one whose report is committed (made from a store that is not here) names that report
    (shipped / "ablations" / "glyph_recipe").mkdir()
    (shipped / "ablations" / "glyph_recipe" / "index.md").write_text("# glyph_recipe\n")
    with pytest.raises(BenchmarkError, match=r"its report, without the rows, is .*glyph_recipe"
                                             r"/index\.md; there is no store .*tasks/ablations/"):
        render_ablation_store(absent, "glyph_recipe", out_dir=shipped)
    assert not absent.exists()


def test_a_store_holding_part_of_a_benchmark_replaces_only_that_part_of_the_export(
        tmp_path: Path) -> None:
    """A re-run of one label rendered from its own store (``benchmark report`` on a half-
    finished re-run) leaves the other labels' rows and runs in the export as they were."""
    a, _ = _two_stores(tmp_path)
    out = tmp_path / "results"
    render_store(a, out_dir=out)
    before = export.read(out / export.FILE_NAME)["results"]
    with Store(tmp_path / "part.sqlite") as store:
        store.put_results([replace(r, accuracy=0.5) for r in synthetic_rows()
                           if r.method == "simclr"])
        export.write(store, out / export.FILE_NAME)
    after = export.read(out / export.FILE_NAME)["results"]
    assert len(after) == len(before)
    replaced = {r.key for r in synthetic_rows() if r.method == "simclr"}
    assert ({r.key: r.accuracy for r in after}
            == {r.key: 0.5 if r.key in replaced else r.accuracy for r in before})
