"""Report: tables from a synthetic store (bold best, ties, Wilcoxon, ranks, provenance guard)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import BenchmarkError
from benchmark.interrupt import INTERRUPTED
from benchmark.report import stats, tables
from benchmark.report.render import render_benchmark, render_store
from benchmark.store import RunRecord, Store
from fixtures_data import row, synthetic_rows


def test_best_ties_ranks_and_wilcoxon() -> None:
    rows = synthetic_rows()
    table = tables.build_table(rows, "synth")
    one = tables.Column("omniglot", "evaluation", 5, 1, "prototype")
    five = tables.Column("omniglot", "evaluation", 5, 5, "prototype")
    assert table.cell("protonet", one)["best"] and not table.cell("simclr", one)["best"]
    assert table.cell("simclr", one)["tie"]
    assert not table.cell("protoclr", one)["tie"] and not table.cell("random", one)["tie"]
    assert table.cell("simclr", five)["best"]
    assert table.comparisons[one].best == "protonet" and table.comparisons[one].second == "simclr"
    by_key = {(r.method, r.shots): r for r in rows}
    from scipy.stats import wilcoxon

    expected = wilcoxon(by_key["simclr", 5].episode_accuracies,
                        by_key["protonet", 5].episode_accuracies).pvalue
    assert table.comparisons[five].p_value == pytest.approx(expected)
    assert table.ranks == {"protonet": 1.5, "simclr": 1.5, "protoclr": 3.0, "random": 4.0}
    assert table.methods[-1] == "random"


def test_converted_columns_are_footnoted_with_what_was_done() -> None:
    done = "RGB→grey (ITU-R 601 luma), 32x32→28x28 bilinear (antialiased)"
    converted = [replace(r, eval_dataset="cifar10", eval_split="fewshot_test→auto",
                         eval_fingerprint="fcifar", input_conversion=done)
                 for r in synthetic_rows()]
    table = tables.build_table(synthetic_rows() + converted, "synth")
    assert table.conversions == {"cifar10/fewshot_test→auto": done}
    assert len(table.columns) == 4
    markdown = tables.to_markdown(table, ["made by: test"])
    lines = markdown.splitlines()
    assert lines[2] == "#### omniglot/evaluation" and "5w1s" in lines[4]  # the training set's first
    assert [line for line in lines if line.startswith("#### ")] == [
        "#### omniglot/evaluation", "#### cifar10/fewshot_test→auto"]
    assert f"Input conversion (to the models' image shape): cifar10/fewshot_test→auto: {done}." \
        in markdown
    latex = tables.to_latex(table, [])
    assert "fewshot\\_test$\\to$auto" in latex and "RGB$\\to$grey" in latex
    assert "→" not in latex
    assert set(table.cells.input_conversion) == {"", done}
    unconverted = tables.build_table(synthetic_rows(), "synth")
    assert unconverted.conversions == {}
    assert "Input conversion" not in tables.to_markdown(unconverted, [])


def test_a_head_on_fewer_episodes_is_footnoted() -> None:
    rng = np.random.default_rng(0)
    rows = [row(m, 1, rng.uniform(0, 1, 40)) for m in ("a", "b")]
    rows += [row(m, 1, rng.uniform(0, 1, 10), head="finetune") for m in ("a", "b")]
    markdown = tables.to_markdown(tables.build_table(rows, "synth"), [])
    assert "Test episodes per cell: 40; head finetune: 10 (the first of the same episodes)." in markdown
    assert "Test episodes per cell" not in tables.to_markdown(tables.build_table(rows[:2], "synth"), [])


def test_a_column_never_mixes_conversions() -> None:
    rows = synthetic_rows()
    rows[0] = replace(rows[0], input_conversion="grey→RGB (replicated)")
    with pytest.raises(tables.ProvenanceError, match="input conversions"):
        tables.build_table(rows, "synth")


def test_markdown_bolds_best_and_marks_ties() -> None:
    table = tables.build_table(synthetic_rows(), "synth")
    text = tables.to_markdown(table, ["made by: test"])
    protonet_line = next(line for line in text.splitlines() if line.startswith("| protonet"))
    simclr_line = next(line for line in text.splitlines() if line.startswith("| simclr"))
    assert protonet_line.count("**") == 2 and simclr_line.count("**") == 2
    assert "†" in simclr_line and "†" in text.split("\n\n")[2]  # the legend explains it
    assert "p (best vs 2nd)" in text and "made by: test" in text


def test_latex_is_booktabs() -> None:
    text = tables.to_latex(tables.build_table(synthetic_rows(), "synth"), ["made by: test"])
    assert "\\toprule" in text and "\\bottomrule" in text and "\\textbf{" in text
    assert text.startswith("% made by: test")


@pytest.mark.parametrize("field", ["spec_hash", "train_fingerprint", "eval_fingerprint"])
def test_provenance_guard_refuses_mixed_cells(field: str) -> None:
    rows = synthetic_rows()
    other = replace(rows[0], seed=1, **{field: "something-else"})
    with pytest.raises(tables.ProvenanceError, match=field.replace("_", " ")) as err:
        tables.build_table(rows + [other], "synth")
    assert "something-else" in str(err.value) and "protonet" in str(err.value)


def test_provenance_guard_refuses_mixed_eval_data_in_a_column() -> None:
    rows = synthetic_rows()
    rows = [replace(r, eval_fingerprint="other") if r.method == "simclr" else r for r in rows]
    with pytest.raises(tables.ProvenanceError, match="column"):
        tables.build_table(rows, "synth")


def test_seeds_average_per_episode() -> None:
    episodes = np.array([1.0, 0.5, 0.75, 1.0])
    rows = [row("protonet", 1, episodes, seed=0, spec_hash="h"),
            row("protonet", 1, 1 - episodes, seed=1, spec_hash="h")]
    table = tables.build_table(rows, "synth")
    cell = table.cells.iloc[0]
    assert cell["seeds"] == 2 and cell["mean"] == pytest.approx(0.5) and cell["ci95"] == 0.0
    seed_ci = stats.mean_ci95([rows[0].accuracy, rows[1].accuracy])[1]
    assert cell["seed_ci95"] == pytest.approx(seed_ci) and seed_ci > 0  # the seeds disagree
    markdown = tables.to_markdown(table, [])
    assert f"50.00 ± 0.00 (seeds ± {100 * seed_ci:.2f})" in markdown
    assert "(seeds ± x): the 95% CI over the seeds' mean accuracies" in markdown
    again = tables.table_from_csv(tables.to_csv(table, []))
    assert again.cells.seed_ci95.iloc[0] == pytest.approx(seed_ci)
    one_seed = tables.build_table(rows[:1], "synth")
    assert "seeds ±" not in tables.to_markdown(one_seed, [])
    old = "\n".join(line.rsplit(",", 1)[0] for line in tables.to_csv(one_seed, []).splitlines())
    assert tables.table_from_csv(old).cells.seed_ci95.isna().all()  # a CSV from before


def test_render_store_files_agree_with_store(tmp_path: Path, capsys) -> None:
    store_path = tmp_path / "store.sqlite"
    rows = synthetic_rows()
    with Store(store_path) as store:
        store.put_results(rows)
    (report,) = render_store(store_path, out_dir=tmp_path / "out", benchmark_name="synth")
    out = tmp_path / "out"
    for name in ("synth.md", "synth.tex", "synth.csv", "synth/accuracy_vs_shots.png",
                 "synth/accuracy_vs_shots.svg"):
        assert (out / name).stat().st_size > 0
    assert not list(out.rglob(".*.tmp"))
    csv = pd.read_csv(out / "synth.csv", comment="#")
    assert list(csv.columns) == list(tables.CSV_COLUMNS)
    for r in rows:
        hit = csv[(csv.method == r.method) & (csv.shots == r.shots)]
        assert hit["mean"].item() == pytest.approx(r.accuracy, abs=1e-6)
        assert hit["ci95"].item() == pytest.approx(r.ci95, abs=1e-6)
    md = (out / "synth.md").read_text()
    assert f"{100 * rows[0].accuracy:.2f}" in md
    for path in ("synth.md", "synth.tex", "synth.csv"):
        text = (out / path).read_text()
        assert str(store_path) in text and "hash-protonet" in text and "made by:" in text
    assert "hash-protonet" in (out / "synth" / "accuracy_vs_shots.svg").read_text()
    assert "protonet" in capsys.readouterr().out


def test_the_header_names_every_run_the_table_does_not_show(tmp_path: Path) -> None:
    """A failed run, a run stopped by a signal and a run left running with no row (a killed
    session's) get a line each, the stopped one as not finished (it resumes); a
    running run whose rows of the same configuration are shown (one resumed to a later mark)
    gets none."""
    with Store(tmp_path / "s.sqlite") as store:
        store.put_results(synthetic_rows())
        for run in (RunRecord("synth", "maml", 0, "running"),
                    RunRecord("synth", "byol", 1, "failed", failed_step=7, error="diverged"),
                    RunRecord("synth", "simclr", 2, "failed", error=f"{INTERRUPTED} SIGTERM"),
                    RunRecord("synth", "protonet", 0, "running", spec_hash="hash-protonet")):
            store.set_run(run)
    render_store(tmp_path / "s.sqlite", out_dir=tmp_path / "out", benchmark_name="synth")
    header = (tmp_path / "out" / "synth.md").read_text().split("###")[0]
    assert "- NOT FINISHED: maml seed 0 (running, or stopped" in header
    assert "- FAILED: byol seed 1 at step 7 (diverged); no row of it is shown" in header
    assert ("- NOT FINISHED: simclr seed 2 (interrupted by SIGTERM: the run command resumes "
            "it from its last checkpoint); no row of it is shown") in header
    assert "protonet seed 0" not in header


def test_a_run_names_the_spec_jobs_not_started_in_its_header(tmp_path: Path) -> None:
    """Rendered by a run (the spec known): a label × seed with neither a run nor a row gets a
    line; one shown, running or failed does not get a second."""
    with Store(tmp_path / "s.sqlite") as store:
        store.put_results(synthetic_rows())
        store.set_run(RunRecord("synth", "maml", 0, "running"))
        render_benchmark(store, "synth", tmp_path / "out", planned=[
            ("protonet", 0), ("maml", 0), ("maml", 1), ("psco", 0)])
    header = (tmp_path / "out.md").read_text().split("###")[0]
    assert header.count("NOT STARTED") == 2
    assert "- NOT STARTED: maml seed 1 (in the spec, not yet run: the run command runs it)" in header
    assert "- NOT STARTED: psco seed 0" in header


def test_render_store_refuses_missing_store_and_unknown_benchmark(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="does not exist"):
        render_store(tmp_path / "none.sqlite", out_dir=tmp_path)
    with Store(tmp_path / "s.sqlite") as store:
        store.put_results(synthetic_rows())
    with pytest.raises(BenchmarkError, match="no results for benchmark 'nope'.*synth"):
        render_store(tmp_path / "s.sqlite", out_dir=tmp_path, benchmark_name="nope")
    assert not (tmp_path / "nope").exists()


def test_stats_helpers() -> None:
    mean, ci = stats.mean_ci95([0.0, 1.0])
    assert mean == 0.5 and ci == pytest.approx(6.353, abs=1e-3)
    assert stats.wilcoxon_p([0.5, 0.5], [0.5, 0.5]) == 1.0
    assert stats.intervals_overlap(0.9, 0.01, 0.88, 0.011)
    assert not stats.intervals_overlap(0.9, 0.01, 0.85, 0.01)


def test_columns_read_as_a_paper_prints_them() -> None:
    """The training set's own classes first, then the other sets by name; within a set by
    ways, the prototype head before the others, then shots."""
    Column = tables.Column
    columns = [Column(d, "test", w, k, h) for d in ("cifar10", "omniglot", "mnist")
               for w in (20, 5) for h in ("finetune", "prototype", "logistic") for k in (5, 1)]
    got = tables.column_order(columns, {"omniglot"})
    assert [(c.eval_dataset, c.ways, c.head, c.shots) for c in got[:7]] == [
        ("omniglot", 5, "prototype", 1), ("omniglot", 5, "prototype", 5),
        ("omniglot", 5, "finetune", 1), ("omniglot", 5, "finetune", 5),
        ("omniglot", 5, "logistic", 1), ("omniglot", 5, "logistic", 5),
        ("omniglot", 20, "prototype", 1)]
    assert [c.eval_dataset for c in got[12::12]] == ["cifar10", "mnist"]
