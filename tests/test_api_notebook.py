"""The API in a notebook: ``dir(benchmark)`` lists it, ``EvalResult`` prints on one line, a
misspelt spec name is refused naming those stored, a model of another image shape gets the
``convert=`` hint; and the committed export of the store (``benchmark.export``) that
``results()`` and ``report`` read on a fresh clone."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmark
from benchmark import export
from benchmark.errors import BenchmarkError
from benchmark.evaluation import EvalResult
from benchmark.report.render import render_ablation_store, render_store
from benchmark.store import Store
from test_ablation_report import sweep
from test_report import synthetic_rows


def test_dir_lists_the_api() -> None:
    listed = {name for name in dir(benchmark) if not name.startswith("__")}
    # benchmark.store, .export, ... are loaded by this file's imports: not part of the listing
    assert listed == {"run", "results", "evaluate"} and "__version__" in dir(benchmark)


def test_eval_result_repr_is_one_line() -> None:
    result = EvalResult(0.62, 0.01, np.full(600, 0.62), 600, 5, 1, 15, "prototype")
    assert repr(result) == "EvalResult(62.00 ± 1.00 % (600 episodes, 5-way 1-shot, head prototype))"


def test_results_names_the_stored_benchmarks_for_a_typo(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_results(synthetic_rows())
    with pytest.raises(BenchmarkError, match=r"no benchmark 'synht' in .*\(benchmarks: synth\)"):
        benchmark.results(tmp_path / "s.sqlite", spec="synht")


def test_a_model_of_another_image_shape_gets_the_convert_hint() -> None:
    from benchmark.methods import build_method

    model = build_method("protonet", "conv4", (3, 32, 32))
    with pytest.raises(BenchmarkError, match=r"built for 3x32x32 images .* has 1x28x28 images; "
                                             r"pass convert='auto', image_shape=\(3, 32, 32\)"):
        benchmark.evaluate(model, "omniglot", 5, 1, split="evaluation", episodes=2, queries=1)
    rgb = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    with pytest.raises(BenchmarkError, match=r"does not take 'omniglot''s 1x28x28 images .*"
                                             r"pass convert='auto' with image_shape"):
        benchmark.evaluate(rgb, "omniglot", 5, 1, split="evaluation", episodes=2, queries=1)


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """A results folder holding only what ``benchmark report`` commits: the export."""
    with sweep(tmp_path, {0.1: 0.70, 0.5: 0.80}) as store:
        store.put_results(synthetic_rows())
    render_store(tmp_path / "r.sqlite", out_dir=tmp_path / "out", benchmark_name="synth")
    clone = tmp_path / "clone" / "results"
    clone.mkdir(parents=True)
    (clone / export.FILE_NAME).write_bytes((tmp_path / "out" / export.FILE_NAME).read_bytes())
    return clone


def test_a_fresh_clone_reads_the_export(fresh_clone: Path, tmp_path: Path) -> None:
    rows = benchmark.results(fresh_clone / "results.sqlite", spec="synth", episodes=True)
    stored = benchmark.results(tmp_path / "r.sqlite", spec="synth", episodes=True)
    assert rows.drop(columns="episode_accuracies").equals(stored.drop(columns="episode_accuracies"))
    # to the bit: rounded, equal differences between methods become unequal (other p-values)
    assert np.array_equal(np.stack(rows.episode_accuracies), np.stack(stored.episode_accuracies))
    with pytest.raises(BenchmarkError, match=r"no benchmark 'nope' .*benchmarks: synth, temp, [^;]*\)$"):
        benchmark.results(fresh_clone / "results.sqlite", spec="nope")
    (fresh_clone / "older.csv").write_text("method,mean\n")   # a table committed without rows
    with pytest.raises(BenchmarkError, match=r"'older' .*per-episode rows: .*older\.csv$"):
        benchmark.results(fresh_clone / "results.sqlite", spec="older")
    render_ablation_store(fresh_clone / "results.sqlite", "temp", out_dir=fresh_clone)
    assert (fresh_clone / "ablations" / "temp" / "report.html").is_file()
    assert not (fresh_clone / "results.sqlite").exists()


def test_the_export_is_small_and_stable(fresh_clone: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as store:
        again = export.write(store, tmp_path / "again.jsonl.gz")
    assert again.read_bytes() == (fresh_clone / export.FILE_NAME).read_bytes()
    assert again.stat().st_size < 20_000


@pytest.mark.parametrize("line, words", [
    (b"not json", "not JSON"),
    (b'{"table": "users"}', "not a record of results, runs, curves, ablation_points"),
    (b'{"table": "runs", "benchmark": "b"}', "missing method, seed, status"),
    (b'{"table": "runs", "benchmark": "b", "method": "m", "seed": "0", "status": "done"}',
     "seed is '0', expected int"),
    (b'{"table": "curves", "benchmark": "b", "method": "m", "seed": 0, "spec_hash": "h", '
     b'"steps": [1.5], "seconds": [1], "val_acc": [0.5], "total_steps": 2, "total_seconds": 3}',
     "steps is not a list of integers"),
])
def test_a_foreign_export_is_refused_in_one_line(tmp_path: Path, line: bytes, words: str) -> None:
    path = tmp_path / export.FILE_NAME
    path.write_bytes(gzip.compress(line + b"\n"))
    with pytest.raises(BenchmarkError, match=words):
        benchmark.results(tmp_path / "results.sqlite")
