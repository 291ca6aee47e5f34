"""Ablation report: constructed rows with known outcomes → sentences, marks, Holm, seeds, floor,
heat map, self-contained HTML, atomic files, one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import BenchmarkError
from benchmark.report import stats
from benchmark.report.ablation import render_ablation
from benchmark.report.index import render_indexes
from benchmark.report.ablation_analysis import analyse
from benchmark.report.tables import Column
from benchmark.store import AblationPoint, ResultRow, Store

CELL = Column("omniglot", "evaluation", 5, 1, "prototype")
PATH = "methods[0].params.temperature"
SHARED = np.random.default_rng(0).normal(0, 0.05, 60)


def row(benchmark: str, method: str, episodes: np.ndarray, seed: int = 0,
        shots: int = 1) -> ResultRow:
    mean, ci = stats.mean_ci95(episodes)
    return ResultRow(
        benchmark=benchmark, method=method, train_dataset="omniglot", train_split="background",
        eval_dataset="omniglot", eval_split="evaluation", ways=5, shots=shots, queries=15,
        head="prototype", seed=seed, accuracy=mean, ci95=ci, episodes=len(episodes),
        eval_seed=0, steps=200, train_seconds=1.0, eval_seconds=0.1, device="cpu",
        commit="abc123", versions="{}", spec_hash=f"hash-{benchmark}", train_fingerprint="ft",
        eval_fingerprint="fe", method_name=method, backbone="conv4",
        episode_accuracies=tuple(float(a) for a in episodes))


def draw(p: float, seed: int = 0) -> np.ndarray:
    """Accuracies around ``p`` on the shared episodes (small per-seed noise)."""
    return p + SHARED + np.random.default_rng(100 + seed + int(1000 * p)).normal(0, 0.01, 60)


def sweep(tmp_path: Path, means: dict[float, float], seeds: int = 1, floor: str = "once",
          name: str = "temp") -> Store:
    """A one-parameter temperature sweep: value → mean accuracy of method ``simclr``."""
    store = Store(tmp_path / "r.sqlite")
    points, rows = [], []
    for i, (value, mean) in enumerate(means.items()):
        bench = f"{name}/temperature-{value}"
        points.append(AblationPoint(name, f"temperature-{value}", i, bench,
                                    json.dumps({PATH: value}), "Which temperature is best?"))
        rows += [row(bench, "simclr", draw(mean, s), seed=s) for s in range(seeds)]
        if floor == "within":
            rows.append(row(bench, "random", draw(0.2 + 0.01 * i)))
    if floor == "once":
        rows.append(row(name, "random", draw(0.2)))
    store.put_results(rows)
    store.put_ablation_points(points)
    return store


def test_holm_against_hand_computation() -> None:
    # sorted p: 0.01, 0.02, 0.04, 0.30 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.08, 0.30 (monotone)
    assert stats.holm([0.04, 0.01, 0.30, 0.02]) == pytest.approx([0.08, 0.04, 0.30, 0.06])
    # monotonicity: 0.01×3 = 0.03, 0.011×2 = 0.022 → raised to 0.03; 0.5×1 = 0.5
    assert stats.holm([0.011, 0.01, 0.5]) == pytest.approx([0.03, 0.03, 0.5])
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_clear_winner_beats_and_tie(tmp_path: Path) -> None:
    with sweep(tmp_path, {0.1: 0.70, 0.5: 0.80, 1.0: 0.80}) as store:
        report = render_ablation(store, "temp", tmp_path / "out", command="test")
    entries = dict(zip(["0.1", "0.5", "1.0"], report.ablation.series["simclr"][CELL]))
    best = next(k for k, e in entries.items() if e.best)
    other = "1.0" if best == "0.5" else "0.5"
    assert best in ("0.5", "1.0") and entries[other].tie and entries["0.1"].p_adj < 1e-6
    assert not entries["0.1"].tie
    sentence = next(s for s in report.markdown.splitlines() if s.startswith("- On "))
    assert f"temperature {best} is best" in sentence
    assert "it beats 0.1 by" in sentence and "(p < 1e-6)" in sentence
    assert f"{other} ties with it" in sentence
    assert "†" in report.markdown and "**" in report.markdown


def test_swapping_the_numbers_flips_the_sentence(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with sweep(tmp_path / "a", {0.1: 0.80, 0.5: 0.60}) as store:
        first = render_ablation(store, "temp", tmp_path / "a" / "out", command="t").markdown
    with sweep(tmp_path / "b", {0.1: 0.60, 0.5: 0.80}) as store:
        second = render_ablation(store, "temp", tmp_path / "b" / "out", command="t").markdown
    assert "temperature 0.1 is best" in first and "it beats 0.5 by" in first
    assert "temperature 0.5 is best" in second and "it beats 0.1 by" in second
    assert "Overall (1 cell): temperature 0.1 is best in 1; 0.5 is never" not in first
    assert "temperature 0.1 is best in 1" in first and "temperature 0.5 is best in 1" in second


def test_seeds_averaged_ci_over_seed_means(tmp_path: Path) -> None:
    with sweep(tmp_path, {0.1: 0.70, 0.5: 0.75}, seeds=3) as store:
        analysis = analyse(store, "temp")
        rows = store.results("temp/temperature-0.1")
        page = render_ablation(store, "temp", tmp_path / "out", command="t").markdown
    entry = analysis.series["simclr"][CELL][0]
    mean, ci = stats.mean_ci95([r.accuracy for r in rows])
    assert entry.seeds == 3 and entry.mean == pytest.approx(mean)
    assert entry.ci95 == pytest.approx(ci)
    assert analysis.max_seeds == 3
    assert "Student-t interval over the seed means" in page


def test_floor_stored_once(tmp_path: Path) -> None:
    with sweep(tmp_path, {0.1: 0.70, 0.5: 0.80}, floor="once") as store:
        report = render_ablation(store, "temp", tmp_path / "out", command="t")
    assert CELL in report.ablation.floor_once and not report.ablation.floor_points
    assert "| floor (random) |" in report.markdown
    assert "the floor (random) is at" in report.markdown


def test_floor_within_points(tmp_path: Path) -> None:
    with sweep(tmp_path, {0.1: 0.70, 0.5: 0.80}, floor="within") as store:
        report = render_ablation(store, "temp", tmp_path / "out", command="t")
    assert not report.ablation.floor_once and len(report.ablation.floor_points[CELL]) == 2
    assert list(report.ablation.series) == ["simclr"]
    assert "floor (random), measured at every point" in report.markdown


def test_two_parameters_give_a_heat_map(tmp_path: Path, monkeypatch) -> None:
    from benchmark.report import ablation_plots

    store = Store(tmp_path / "r.sqlite")
    points, rows, i = [], [], 0
    for t in (0.1, 0.5):
        for b in (32, 256):
            bench = f"cross/t{t}-b{b}"
            points.append(AblationPoint("cross", f"temperature-{t}-batch_size-{b}", i, bench,
                                        json.dumps({PATH: t, "trainer.batch_size": b}), "q"))
            rows.append(row(bench, "simclr", draw(0.6 + t / 5 + b / 2560)))
            i += 1
    store.put_results(rows)
    store.put_ablation_points(points)
    called = []
    original = ablation_plots.heat_map
    monkeypatch.setattr(ablation_plots, "heat_map",
                        lambda *a: called.append(a[1]) or original(*a))
    report = render_ablation(store, "cross", tmp_path / "out", command="t")
    store.close()
    assert report.ablation.kind == "two" and called == [CELL]
    assert "temperature 0.5 with batch_size 256 is best" in report.markdown
    assert "| temperature | batch_size |" in report.markdown


def test_html_self_contained_and_files_atomic(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with sweep(tmp_path, {0.1: 0.70, 0.5: 0.80}) as store:
        report = render_ablation(store, "temp", out, command="bench report --ablation temp")
    page = report.files["html"].read_text()
    assert "data:image/png;base64," in page
    assert 'src="' not in page.replace('src="data:image/png;base64,', "")
    assert {p.suffix for p in report.files.values()} == {".md", ".html", ".csv", ".png", ".svg"}
    assert all(p.is_file() for p in report.files.values())
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert "made by: bench report --ablation temp" in report.markdown
    assert "budget: random 200 steps; simclr 200 steps" in report.markdown
    csv = report.files["csv"].read_text()
    assert csv.startswith("# made by:") and "temperature,series,method" in csv


def test_missing_ablation_is_one_line_error(tmp_path: Path) -> None:
    with sweep(tmp_path, {0.1: 0.7}) as store:
        with pytest.raises(BenchmarkError) as err:
            render_ablation(store, "nope", tmp_path / "out")
        assert "\n" not in str(err.value) and "nope" in str(err.value)
        store.put_ablation_points([AblationPoint("empty", "a-1", 0, "empty/a-1", '{"a": 1}')])
        with pytest.raises(BenchmarkError) as err:
            render_ablation(store, "empty", tmp_path / "out")
        assert "\n" not in str(err.value) and "no result rows" in str(err.value)


def test_index_links_every_ablation(tmp_path: Path) -> None:
    with sweep(tmp_path, {0.1: 0.7, 0.5: 0.8}) as store:
        render_ablation(store, "temp", tmp_path / "ablations" / "temp")
    render_indexes(tmp_path)
    text = (tmp_path / "ablations" / "index.md").read_text()
    assert "[temp](temp/index.md)" in text and "Which temperature is best?" in text


def test_cli_report_ablation(tmp_path: Path, capsys) -> None:
    from benchmark.cli import main

    sweep(tmp_path, {0.1: 0.7, 0.5: 0.8}).close()
    assert main(["report", "--store", str(tmp_path / "r.sqlite"), "--ablation", "temp",
                 "--out", str(tmp_path / "results")]) == 0
    folder = tmp_path / "results" / "ablations"
    assert (folder / "temp" / "index.md").is_file() and (folder / "temp" / "report.html").is_file()
    assert "[temp](temp/index.md)" in (folder / "index.md").read_text()
    assert "temperature 0.5 is best" in capsys.readouterr().out


def test_several_methods_one_block_each_and_variants(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite")
    points, rows = [], []
    for i, (value, simclr, protoclr) in enumerate([(0.1, 0.8, 0.6), (0.5, 0.6, 0.8)]):
        bench = f"temp/temperature-{value}"
        points.append(AblationPoint("temp", f"temperature-{value}", i, bench,
                                    json.dumps({PATH: value}), "q"))
        rows += [row(bench, "simclr", draw(simclr)), row(bench, "protoclr", draw(protoclr))]
    for i, (name, method, mean) in enumerate([("pairwise", "pairwise", 0.3),
                                               ("ntxent", "ntxent", 0.7)]):
        bench = f"loss/{name}"
        points.append(AblationPoint("loss", name, i, bench, json.dumps({"methods[0].method": method,
                                    "methods[0].label": method}), "which loss?"))
        rows.append(row(bench, method, draw(mean)))
    store.put_results(rows)
    store.put_ablation_points(points)
    report = render_ablation(store, "temp", tmp_path / "temp", command="t")
    assert sorted(report.ablation.series) == ["protoclr", "simclr"]
    assert "for simclr, temperature 0.1 is best" in report.markdown
    assert "for protoclr, temperature 0.5 is best" in report.markdown
    loss = render_ablation(store, "loss", tmp_path / "loss", command="t")
    store.close()
    assert loss.ablation.kind == "variants" and list(loss.ablation.series) == ["method"]
    assert "ntxent is best" in loss.markdown and "it beats pairwise by" in loss.markdown
    assert "| variant |" in loss.markdown


def test_variants_are_marks_and_a_numeric_sweep_is_a_line(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from benchmark.report import ablation_plots

    with sweep(tmp_path, {0.1: 0.7, 0.5: 0.8}) as store:
        numeric = analyse(store, "temp")
    variants = replace(numeric, kind="variants")  # the same points, read as named variants
    for ablation, joined in [(numeric, True), (variants, False)]:
        figure = ablation_plots.line_plot(ablation, ablation.columns[0])
        ax = figure.axes[0]
        lines = [line for line in ax.lines if line.get_label() == "simclr"]
        lines += [c.lines[0] for c in ax.containers if c.get_label() == "simclr"]  # marks
        plt.close(figure)
        assert [line.get_linestyle() for line in lines] == ["-" if joined else "None"]
