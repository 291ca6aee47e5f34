"""The runner end to end on a tiny spec: rows, skipping, determinism, failures, refusals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark import runner
from benchmark.errors import BenchmarkError
from benchmark.store import Store

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"
#: 3 labels (random floor, protonet, protoclr) × 1 seed × 1 dataset × 2 settings × 2 heads.
TINY_ROWS = 12


@dataclass(frozen=True)
class Run:
    store: Path
    runs: Path
    report: Path


def run_tiny(root: Path, spec: Path = TINY, **kwargs) -> Run:
    run = Run(root / "store.sqlite", root / "runs", root / "report")
    runner.run_file(spec, store_path=run.store, runs_dir=run.runs, report_dir=run.report,
                    device="cpu", **kwargs)
    return run


def write_spec(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(TINY.read_text())
    edit(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Run:
    return run_tiny(tmp_path_factory.mktemp("first"))


def test_run_writes_every_row_and_the_report(first: Run) -> None:
    with Store(first.store) as store:
        rows = store.results("tiny", with_episodes=True)
        runs = store.runs("tiny")
    assert len(rows) == TINY_ROWS
    assert {r.method for r in rows} == {"random", "protonet", "protoclr"}
    assert all(len(r.episode_accuracies) == 4 and 0 <= r.accuracy <= 1 for r in rows)
    assert {(r.method, r.status, r.steps) for r in runs} == {("protonet", "done", 2),
                                                             ("protoclr", "done", 2)}
    for r in rows:
        assert r.commit and r.versions.startswith("{") and len(r.spec_hash) == 16
        assert r.train_fingerprint and r.eval_fingerprint and r.device == "cpu"
    assert (first.runs / "tiny" / "protonet" / "seed0" / "last.pt").is_file()
    csv = pd.read_csv(first.report / "transfer.csv", comment="#")
    assert len(csv) == TINY_ROWS
    for r in rows:
        cell = csv[(csv.method == r.method) & (csv.shots == r.shots) & (csv["head"] == r.head)]
        assert cell["mean"].item() == pytest.approx(r.accuracy, abs=1e-6)
    for name in ("transfer.md", "transfer.tex", "accuracy_vs_shots.png", "accuracy_vs_shots.svg"):
        assert (first.report / name).stat().st_size > 0


def test_episodes_are_identical_for_every_method(first: Run) -> None:
    """Same fixed episodes: the floor and the methods are scored on episode lists of one
    length, and two methods' per-episode accuracies are paired by index."""
    with Store(first.store) as store:
        rows = store.results("tiny", with_episodes=True)
    lengths = {len(r.episode_accuracies) for r in rows}
    assert lengths == {4}


def test_rerun_skips_what_is_done(first: Run, capsys) -> None:
    before = (first.runs / "tiny" / "protonet" / "seed0" / "last.pt").stat().st_mtime_ns
    runner.run_file(TINY, store_path=first.store, runs_dir=first.runs, report_dir=first.report,
                    device="cpu")
    assert "0 job(s) to run, 3 already done" in capsys.readouterr().out
    with Store(first.store) as store:
        assert store.count("results") == TINY_ROWS
        assert store.count("episode_accuracies") == TINY_ROWS * 4
    assert (first.runs / "tiny" / "protonet" / "seed0" / "last.pt").stat().st_mtime_ns == before


def test_missing_rows_are_evaluated_again_without_training(first: Run, capsys) -> None:
    last = first.runs / "tiny" / "protonet" / "seed0" / "last.pt"
    before = last.stat().st_mtime_ns
    with Store(first.store) as store:
        reference = {r.key: r for r in store.results(with_episodes=True)}
        with store.transaction() as conn:
            conn.execute("DELETE FROM results WHERE method = 'protonet' AND shots = 2")
        assert store.count("results") == TINY_ROWS - 2
    runner.run_file(TINY, store_path=first.store, runs_dir=first.runs, report_dir=first.report,
                    device="cpu")
    assert "1 job(s) to run, 2 already done" in capsys.readouterr().out
    assert last.stat().st_mtime_ns == before
    with Store(first.store) as store:
        again = {r.key: r for r in store.results(with_episodes=True)}
    assert again.keys() == reference.keys()
    for key, row in reference.items():
        assert again[key].episode_accuracies == row.episode_accuracies, key


@pytest.mark.slow
def test_same_spec_and_seed_give_identical_rows(tmp_path: Path, first: Run) -> None:
    second = run_tiny(tmp_path)
    with Store(first.store) as a, Store(second.store) as b:
        rows_a = {r.key: r for r in a.results(with_episodes=True)}
        rows_b = {r.key: r for r in b.results(with_episodes=True)}
    assert rows_a.keys() == rows_b.keys()
    for key in rows_a:
        assert rows_a[key].accuracy == rows_b[key].accuracy, key
        assert rows_a[key].ci95 == rows_b[key].ci95, key
        assert rows_a[key].episode_accuracies == rows_b[key].episode_accuracies, key


def test_diverged_run_is_recorded_as_failed_and_others_go_on(tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    from benchmark import train as train_module

    real_train = train_module.train

    def diverging(method, sampler, config, run_dir, *args, **kwargs):
        if "protoclr" in str(run_dir):
            raise train_module.DivergedError(1, float("nan"), None, None)
        return real_train(method, sampler, config, run_dir, *args, **kwargs)

    monkeypatch.setattr(train_module, "train", diverging)
    spec = write_spec(tmp_path, lambda d: d["eval"].update(settings=[{"ways": 5, "shots": 1}],
                                                           heads=["prototype"]))
    with pytest.raises(BenchmarkError) as err:
        run_tiny(tmp_path, spec)
    message = str(err.value)
    assert "1 run(s) failed" in message and "protoclr seed 0 at step 1" in message
    assert "\n" not in message
    with Store(tmp_path / "store.sqlite") as store:
        run = store.get_run("tiny", "protoclr", 0)
        assert run.status == "failed" and run.failed_step == 1 and "diverged" in run.error
        assert store.get_run("tiny", "protonet", 0).status == "done"
        assert {r.method for r in store.results()} == {"random", "protonet"}
    assert (tmp_path / "report" / "transfer.md").is_file()
    assert "protonet" in capsys.readouterr().out


def _nothing_written(root: Path, keep: set[str]) -> None:
    assert {p.name for p in root.iterdir()} == keep


@pytest.mark.parametrize("edit, where", [
    (lambda d: d["eval"].update(settings=[{"ways": 700, "shots": 1}]), "eval.settings[0]"),
    (lambda d: d["eval"].update(settings=[{"ways": 5, "shots": 19}]), "eval.settings[0]"),
    (lambda d: d["methods"][0].update(ways=5000), "methods[0]"),
    (lambda d: d["methods"][0].update(sampler_options={"colour": True}), "methods[0]"),
    (lambda d: d["methods"][0].update(params={"bogus": 1}), "methods[0].params"),
    (lambda d: d["methods"][1].update(sampler="labels"), "methods[1]"),
    (lambda d: d["eval"]["datasets"][0].update(settings=[{"ways": 999, "shots": 1}]),
     "eval.datasets[0].settings[0]"),
], ids=["ways>classes", "shots+queries>images", "train-ways", "sampler-option", "param",
        "sampler", "per-dataset-setting"])
def test_impossible_settings_are_refused_before_any_work(tmp_path: Path, edit, where) -> None:
    spec = write_spec(tmp_path, edit)
    with pytest.raises(BenchmarkError) as err:
        run_tiny(tmp_path, spec)
    assert str(err.value).startswith(f"{spec}: {where}: ")
    _nothing_written(tmp_path, {"spec.yaml"})


def test_store_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "store.sqlite").write_text("not a database\n")
    with pytest.raises(BenchmarkError, match="not an SQLite database"):
        run_tiny(tmp_path)
    assert (tmp_path / "store.sqlite").read_text() == "not a database\n"
    _nothing_written(tmp_path, {"store.sqlite"})


def test_changed_configuration_retrains_and_keeps_the_old_run(tmp_path: Path, capsys) -> None:
    one_cell = dict(settings=[{"ways": 5, "shots": 1}], heads=["prototype"])
    spec = write_spec(tmp_path, lambda d: (d["eval"].update(one_cell), d["methods"].pop()))
    run = run_tiny(tmp_path, spec)
    with Store(run.store) as store:
        old_hash = store.get_run("tiny", "protonet", 0).spec_hash
    spec = write_spec(tmp_path, lambda d: (d["eval"].update(one_cell), d["methods"].pop(),
                                           d["methods"][0].update(queries=3)))
    capsys.readouterr()
    run_tiny(tmp_path, spec)
    assert "configuration changed" in capsys.readouterr().out
    assert (run.runs / "tiny" / "protonet" / f"seed0.stale-{old_hash}" / "last.pt").is_file()
    with Store(run.store) as store:
        new = store.get_run("tiny", "protonet", 0)
        assert new.status == "done" and new.spec_hash != old_hash
        assert {r.spec_hash for r in store.results() if r.method == "protonet"} == {new.spec_hash}
        assert store.count("results") == 2


def _divide(a: float, b: float) -> float:
    return a / b


def test_local_executor_maps_jobs_and_keeps_errors() -> None:
    from benchmark.executors import Job, build_executor

    started = []
    jobs = [Job(("a",), _divide, {"a": 7, "b": 2}), Job(("b",), _divide, {"a": 1, "b": 0})]
    outcomes = list(build_executor("local").run(jobs, started.append))
    assert started == jobs
    assert outcomes[0].result == 3.5 and outcomes[0].error is None
    assert isinstance(outcomes[1].error, ZeroDivisionError)
