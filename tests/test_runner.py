"""The runner end to end on a tiny spec: rows, skipping, determinism, failures, refusals,
executors, devices and the progress lines."""

from __future__ import annotations

import contextlib
import io
import shutil

import logging
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd
import pytest
import torch
import yaml

from benchmark import cli, runner
from benchmark.cli import dataset_tools as commands
from benchmark.data import load_split
from benchmark.device import resolve_device
from benchmark.errors import BenchmarkError
from benchmark.executors import EXECUTORS, Job, Outcome
from benchmark.executors.local import LocalExecutor
from benchmark.report.render import render_store
from benchmark.runner.driver import load_run, plan_file
from benchmark.store import Store
from fixtures_data import cifar10 as fake_cifar10

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


@pytest.fixture(scope="module", autouse=True)
def progress_on_stdout() -> Iterator[None]:
    """As ``python -m benchmark`` does: the progress lines on stdout (read through capsys);
    the ``benchmark`` logger is restored afterwards."""
    logger = logging.getLogger("benchmark")
    level, handlers = logger.level, list(logger.handlers)
    cli.log_to_stdout()
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Run:
    return run_tiny(tmp_path_factory.mktemp("first"))


@dataclass(frozen=True)
class CliRun:
    root: Path
    argv: list[str]
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> CliRun:
    """``tiny`` run again, through ``python -m benchmark run``'s ``main``, into a fresh store:
    its exit code and what it printed."""
    root = tmp_path_factory.mktemp("cli")
    argv = ["run", str(TINY), "--store", str(root / "store.sqlite"), "--runs-dir",
            str(root / "runs"), "--report-dir", str(root / "report"), "--device", "cpu"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return CliRun(root, argv, code, out.getvalue(), err.getvalue())


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
    csv = pd.read_csv(first.report.with_suffix(".csv"), comment="#")
    assert len(csv) == TINY_ROWS
    for r in rows:
        cell = csv[(csv.method == r.method) & (csv.shots == r.shots) & (csv["head"] == r.head)]
        assert cell["mean"].item() == pytest.approx(r.accuracy, abs=1e-6)
    for path in (first.report.with_suffix(".md"), first.report.with_suffix(".tex"),
                 first.report.with_suffix(".html"), first.report / "accuracy_vs_shots.png"):
        assert path.stat().st_size > 0
    assert not (first.report / "time_to_accuracy.svg").exists()  # tiny validates nothing


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


@pytest.mark.parametrize("checkpoint_kept", [True, False], ids=["kept", "gone"])
def test_missing_rows_are_evaluated_again_from_the_run_they_belong_to(
        tmp_path: Path, capsys, checkpoint_kept: bool) -> None:
    """Rows deleted from a finished run are evaluated again on its checkpoint, untrained, the
    other rows left as they are; when its checkpoint is gone (a store loaded from an export)
    the run is trained again and every cell of it evaluated again, so that no row of one
    training stands beside rows of another (a tampered row is replaced: the training is
    deterministic, so every row comes back as it was). The run's training time stays the
    whole run's, the clock its last checkpoint holds, not the wall time of the sitting that
    only evaluated."""
    run = run_tiny(tmp_path)
    folder = run.runs / "tiny" / "protonet" / "seed0"
    before = (folder / "last.pt").stat().st_mtime_ns
    with Store(run.store) as store:
        reference = {r.key: r for r in store.results(with_episodes=True)}
        trained = {r.method: r.wall_seconds for r in store.runs("tiny")}
        with store.transaction() as conn:
            conn.execute("DELETE FROM results WHERE method = 'protonet' AND shots = 2")
            conn.execute("UPDATE results SET accuracy = -1 WHERE method = 'protonet'")
    assert trained["protonet"] == torch.load(folder / "last.pt", weights_only=True)["seconds"]
    if not checkpoint_kept:
        shutil.rmtree(folder)
    plan = plan_file(TINY, store_path=run.store, runs_dir=run.runs)
    line = next(line for line in plan.splitlines() if line.startswith("  protonet seed 0"))
    assert line.startswith("  protonet seed 0: " + ("evaluate 2 of 4" if checkpoint_kept else
                                                     "train 2 steps")), line
    assert ("checkpoint is gone: retrained, every cell again" in line) != checkpoint_kept
    capsys.readouterr()
    runner.run_file(TINY, store_path=run.store, runs_dir=run.runs, report_dir=run.report,
                    device="cpu")
    out = capsys.readouterr().out
    assert "1 job(s) to run, 2 already done" in out
    assert ("retraining and evaluating every cell again" in out) != checkpoint_kept
    assert ((folder / "last.pt").stat().st_mtime_ns == before) == checkpoint_kept
    with Store(run.store) as store:
        again = {r.key: r for r in store.results(with_episodes=True)}
        timed = {r.method: r.wall_seconds for r in store.runs("tiny")}
    assert timed["protoclr"] == trained["protoclr"]
    assert timed["protonet"] == (trained["protonet"] if checkpoint_kept else
                                 torch.load(folder / "last.pt", weights_only=True)["seconds"])
    assert again.keys() == reference.keys()
    for key, row in reference.items():
        tampered = row.method == "protonet" and row.shots == 1 and checkpoint_kept  # kept as is
        assert again[key].accuracy == (-1 if tampered else row.accuracy), key
        assert again[key].episode_accuracies == row.episode_accuracies, key


def test_a_runs_curve_is_stored_with_its_rows_and_an_older_store_gains_it_from_its_folder(
        tmp_path: Path, capsys) -> None:
    """A finished job's curve (tiny validates nothing: its budget) is stored with its rows, so
    a report needs no run folder; a store made before curves were stored gains each run's
    from its folder on the next ``run``, but not from a folder of another configuration."""
    run = run_tiny(tmp_path)
    with Store(run.store) as store:
        curves = {c.method: c for c in store.curves("tiny")}
        hashes = {r.method: r.spec_hash for r in store.runs("tiny")}
        with store.transaction() as conn:
            conn.execute("DELETE FROM curves")
    assert {m: (c.spec_hash, c.total_steps, c.steps) for m, c in curves.items()} == {
        m: (hashes[m], 2, ()) for m in ("protonet", "protoclr")}
    assert all(c.total_seconds > 0 for c in curves.values())
    last = run.runs / "tiny" / "protoclr" / "seed0" / "last.pt"
    payload = torch.load(last, weights_only=True)
    payload["spec"]["spec_hash"] = "another configuration"
    torch.save(payload, last)
    capsys.readouterr()
    runner.run_file(TINY, store_path=run.store, runs_dir=run.runs, report_dir=run.report,
                    device="cpu")
    out = capsys.readouterr().out
    assert "tiny: protonet seed 0: validation curve recorded from" in out
    assert "protoclr seed 0: validation curve" not in out
    with Store(run.store) as store:
        assert store.curves("tiny") == [curves["protonet"]]
    shutil.rmtree(run.runs)
    render_store(run.store, out_dir=tmp_path / "again", benchmark_name="tiny")
    text = (tmp_path / "again" / "tiny.md").read_text()
    assert "no validation yet" in text  # protonet's, from the store
    assert "no metrics.csv at" in text  # protoclr's: no curve stored, no folder


def test_cross_domain_cells_evaluate_converted_images_and_say_so(tmp_path: Path,
                                                                 capsys) -> None:
    """Glyph models (1x28x28) on a CIFAR-10 (3x32x32) split with ``convert: auto``: grey,
    resized, the same converted episodes for every method, recorded in each row and the
    report; a rerun finds the converted cells done."""
    data_root = tmp_path / "data"
    commands.prepare("cifar10", fake_cifar10(tmp_path, test_per_class=4), data_root)

    def edit(data: dict) -> None:
        data["methods"] = data["methods"][:1]
        data["eval"]["heads"] = ["prototype"]
        data["eval"]["datasets"].append({"dataset": "cifar10", "split": "fewshot_test",
                                         "convert": "auto", "settings": [{"ways": 4, "shots": 1}]})

    spec = write_spec(tmp_path, edit)
    run = run_tiny(tmp_path, spec, data_root=data_root)
    with Store(run.store) as store:
        rows = store.results("tiny", with_episodes=True)
    converted = [r for r in rows if r.eval_dataset == "cifar10"]
    assert {(r.method, r.eval_split, r.ways, r.shots) for r in converted} == {
        ("random", "fewshot_test→auto", 4, 1), ("protonet", "fewshot_test→auto", 4, 1)}
    done = "RGB→grey (ITU-R 601 luma), 32x32→28x28 bilinear (antialiased)"
    assert all(r.input_conversion == done and len(r.episode_accuracies) == 4 for r in converted)
    assert all(r.input_conversion == "" for r in rows if r.eval_dataset == "omniglot")
    source = load_split("cifar10", "fewshot_test", data_root).fingerprint
    assert len({r.eval_fingerprint for r in converted} | {source}) == 2  # one converted split
    markdown = run.report.with_suffix(".md").read_text()
    section = markdown.split("cifar10/fewshot_test→auto", 1)[1]  # its table: one per split
    assert "4w1s" in section.split("####")[0] and done in markdown
    csv = pd.read_csv(run.report.with_suffix(".csv"), comment="#", keep_default_na=False)
    assert set(csv[csv.eval_dataset == "cifar10"].input_conversion) == {done}
    capsys.readouterr()
    run_tiny(tmp_path, spec, data_root=data_root)
    assert "0 job(s) to run, 2 already done" in capsys.readouterr().out


def test_cells_with_rotations_as_classes_are_their_own_split_in_rows_and_report(
        tmp_path: Path, capsys) -> None:
    """``rotations: true`` on an eval split: its rows are ``<split>+rotations`` (the same
    source fingerprint, other episodes, drawn from 4x the classes), beside the plain split's
    rows, with a table of their own; a rerun finds them done."""
    def edit(data: dict) -> None:
        data["methods"] = data["methods"][:1]
        data["eval"]["heads"] = ["prototype"]
        data["eval"]["datasets"].append({"dataset": "omniglot", "split": "evaluation",
                                         "rotations": True})

    spec = write_spec(tmp_path, edit)
    run = run_tiny(tmp_path, spec)
    with Store(run.store) as store:
        rows = store.results("tiny", with_episodes=True)
    by_split: dict[str, dict] = {}
    for r in rows:
        by_split.setdefault(r.eval_split, {})[(r.method, r.ways, r.shots)] = r
    assert set(by_split) == {"evaluation", "evaluation+rotations"}
    assert by_split["evaluation"].keys() == by_split["evaluation+rotations"].keys()
    plain, rotated = by_split["evaluation"], by_split["evaluation+rotations"]
    assert {r.eval_fingerprint for r in rows} == {load_split("omniglot", "evaluation").fingerprint}
    assert any(plain[k].episode_accuracies != rotated[k].episode_accuracies for k in plain)
    markdown = run.report.with_suffix(".md").read_text()
    assert "omniglot/evaluation+rotations" in markdown
    capsys.readouterr()
    run_tiny(tmp_path, spec)
    assert "0 job(s) to run, 2 already done" in capsys.readouterr().out


@pytest.mark.slow
def test_a_head_with_fewer_episodes_scores_the_first_of_the_same_episodes(tmp_path: Path,
                                                                          first: Run) -> None:
    spec = write_spec(tmp_path, lambda d: d["eval"].update(head_episodes={"prototype_cosine": 2}))
    run_tiny(tmp_path, spec)
    with Store(first.store) as store:
        full = {r.key: r for r in store.results(with_episodes=True)}
    with Store(tmp_path / "store.sqlite") as store:
        rows = store.results(with_episodes=True)
    assert {r.head: r.episodes for r in rows} == {"prototype": full[rows[0].key].episodes,
                                                 "prototype_cosine": 2}
    for r in rows:
        whole = full[r.key].episode_accuracies
        assert r.episode_accuracies == whole[: r.episodes]


def test_a_method_can_train_on_its_own_split(tmp_path: Path, first: Run) -> None:
    def own_split(data: dict) -> None:
        data["methods"][1]["train_split"] = "vinyals_val"
    run_tiny(tmp_path, write_spec(tmp_path, own_split))
    from benchmark.data import load_split
    val = load_split("omniglot", "vinyals_val")
    with Store(tmp_path / "store.sqlite") as store:
        rows = store.results()
    with Store(first.store) as store:
        before = {r.method: r for r in store.results()}
    label = yaml.safe_load(TINY.read_text())["methods"][1]["label"]
    for r in rows:
        if r.method == label:
            assert (r.train_split, r.train_fingerprint) == ("vinyals_val", val.fingerprint)
            assert r.spec_hash != before[label].spec_hash
        else:
            assert (r.train_split, r.spec_hash) == (before[r.method].train_split, before[r.method].spec_hash)


def test_same_spec_and_seed_give_identical_rows(first: Run, cli_run: CliRun) -> None:
    """Two runs of the same spec and seed (in two stores) store identical rows."""
    assert cli_run.code == 0, cli_run.err
    with Store(first.store) as a, Store(cli_run.root / "store.sqlite") as b:
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
    assert (tmp_path / "report.md").is_file()
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


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_a_raised_step_count_goes_on_from_the_checkpoint_where_the_budget_is_not_read(
        tmp_path: Path, capsys, schedule: str) -> None:
    """STEP COUNT 2 → 4: with a constant learning rate the finished run goes on from its
    checkpoint (its folder kept, every cell evaluated again) and its rows are those of a run
    started with 4 steps; a cosine schedule (a fraction of the budget) retrains from the start,
    the old run kept aside."""
    one_cell = dict(settings=[{"ways": 5, "shots": 1}], heads=["prototype"])

    def steps(count: int) -> Callable[[dict], None]:
        return lambda d: (d["eval"].update(one_cell), d["methods"].pop(),
                          d["trainer"].update(steps=count, schedule=schedule))

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run = run_tiny(tmp_path / "a", write_spec(tmp_path / "a", steps(2)))
    straight = run_tiny(tmp_path / "b", write_spec(tmp_path / "b", steps(4)))
    longer = write_spec(tmp_path / "a", steps(4))
    line = next(line for line in plan_file(longer, store_path=run.store,
                                           runs_dir=run.runs).splitlines()
                if line.startswith("  protonet seed 0"))
    capsys.readouterr()
    run_tiny(tmp_path / "a", longer)
    out = capsys.readouterr().out
    continued = schedule == "constant"
    assert ("train 2 steps left (resumes at step 2 of 4)" in line) == continued, line
    assert ("its run of STEP COUNT 2 goes on" in line) == continued, line
    assert ("goes on from its checkpoint at step 2" in out) == continued
    assert ("configuration changed" in out) != continued
    assert any(run.runs.glob("tiny/protonet/seed0.stale-*")) != continued
    with Store(run.store) as store, Store(straight.store) as reference:
        rows = {r.key: r for r in store.results("tiny", with_episodes=True)}
        expected = {r.key: r for r in reference.results("tiny", with_episodes=True)}
        assert store.get_run("tiny", "protonet", 0).steps == 4
    assert rows.keys() == expected.keys()
    for key, row in expected.items():
        assert rows[key].spec_hash == row.spec_hash
        assert rows[key].episode_accuracies == row.episode_accuracies, key


def test_a_stage_2_trains_for_the_step_its_stage_1_validated_best(tmp_path: Path,
                                                                   capsys) -> None:
    """``trainer.steps_from: tiny/protonet`` reads the step of stage 1's best validation from
    the store; the run, the plan and the job hash use it (the same job as that STEP COUNT
    written by hand); a stage 1 without a finished run is refused in one line."""
    one_cell = dict(settings=[{"ways": 5, "shots": 1}], heads=["prototype"])

    def stage1(d: dict) -> None:
        d["eval"].update(one_cell)
        d["methods"].pop()
        d["train"]["val_split"] = "evaluation"
        d["trainer"].update(steps=4, val_every=1, val_episodes=2)

    def stage2(steps: dict) -> Callable[[dict], None]:
        return lambda d: (d.update(name="tiny_stage2"), d["eval"].update(one_cell),
                          d["methods"].pop(), d["trainer"].update(steps))

    (tmp_path / "two").mkdir()
    run = run_tiny(tmp_path, write_spec(tmp_path, stage1))
    with Store(run.store) as store:  # a curve that peaks before its end, twice
        (curve,) = store.curves("tiny")
        assert curve.steps == (1, 2, 3, 4)
        store.set_curve(replace(curve, val_acc=(0.5, 0.9, 0.9, 0.7)))
    step = 2
    chained = write_spec(tmp_path / "two", stage2({"steps_from": "tiny/protonet", "steps": 7}))
    said = ("tiny_stage2: protonet trains 2 steps: the best validation of tiny/protonet "
            "(seed 0: 90.00% at step 2)")
    assert plan_file(chained, store_path=run.store).splitlines()[0] == said
    capsys.readouterr()
    runner.run_file(chained, store_path=run.store, runs_dir=run.runs,
                    report_dir=tmp_path / "two" / "report", device="cpu")
    assert said in capsys.readouterr().out
    (tmp_path / "by_hand").mkdir()
    by_hand = load_run(write_spec(tmp_path / "by_hand", stage2({"steps": step})))[1][0]
    with Store(run.store) as store:
        stored = store.get_run("tiny_stage2", "protonet", 0)
    assert stored.steps == step and stored.spec_hash == by_hand.job_hash("protonet")
    with Store(run.store) as store:  # three seeds: the median of their best steps
        first = store.get_run("tiny", "protonet", 0)
        for seed, accs in [(1, (0.1, 0.2, 0.3, 0.4)), (2, (0.1, 0.2, 0.5, 0.4))]:
            store.set_run(replace(first, seed=seed))
            store.set_curve(replace(curve, seed=seed, val_acc=accs))
    median = ("tiny_stage2: protonet trains 3 steps: the best validation of tiny/protonet "
              "(seed 0: 90.00% at step 2, seed 1: 40.00% at step 4, seed 2: 50.00% at step 3; "
              "their median)")
    assert plan_file(chained, store_path=run.store).splitlines()[0] == median
    with pytest.raises(BenchmarkError, match="trainer.steps_from tiny/nothing: store .* holds "
                                             "no finished run of it"):
        plan_file(write_spec(tmp_path / "by_hand", stage2({"steps_from": "tiny/nothing"})),
                  store_path=run.store)
    # a label that --only leaves out may wait for its stage 1: kept unresolved, its reference in
    # its hash (no row of the same label trained for the default STEP COUNT matches it)
    def with_later(trainer: dict) -> Callable[[dict], None]:
        def edit(d: dict) -> None:
            stage2({})(d)
            d["methods"].append({**d["methods"][0], "label": "later", "trainer": trainer})
            d["methods"][0]["trainer"] = {"steps_from": "tiny/protonet"}
        return edit

    for name in ("both", "plain"):
        (tmp_path / name).mkdir()
    both = write_spec(tmp_path / "both", with_later({"steps_from": "tiny/nothing"}))
    with pytest.raises(BenchmarkError, match=r"methods\[later\]\.trainer\.steps_from"):
        plan_file(both, store_path=run.store)
    assert plan_file(both, store_path=run.store, only=["protonet"]).splitlines()[0] == median
    plain_later = load_run(write_spec(tmp_path / "plain", with_later({})))[1][0]
    assert load_run(both)[1][0].job_hash("later") != plain_later.job_hash("later")


def _divide(a: float, b: float) -> float:
    return a / b


def test_local_executor_maps_jobs_and_keeps_errors() -> None:
    from benchmark.executors import Job, build_executor

    started = []

    def start(job: Job) -> bool:
        started.append(job)
        return job.key != ("skipped",)

    jobs = [Job(("a",), _divide, {"a": 7, "b": 2}), Job(("skipped",), _divide, {"a": 1, "b": 0}),
            Job(("b",), _divide, {"a": 1, "b": 0})]
    outcomes = list(build_executor("local").run(jobs, start))
    assert started == jobs
    assert [o.job.key for o in outcomes] == [("a",), ("b",)]  # a refused start runs nothing
    assert outcomes[0].result == 3.5 and outcomes[0].error is None
    assert isinstance(outcomes[1].error, ZeroDivisionError)


@EXECUTORS.register("test-reversed", "tests: the local executor, jobs in reverse order")
class ReversedExecutor:
    """Runs the jobs here, last first, each from a pickled copy (as a remote worker gets it);
    records its options and the jobs it ran."""

    made: list["ReversedExecutor"] = []

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.jobs: list[Job] = []
        ReversedExecutor.made.append(self)

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], bool]) -> Iterator[Outcome]:
        self.jobs = [pickle.loads(pickle.dumps(job)) for job in reversed(jobs)]
        return LocalExecutor().run(self.jobs, on_start)


def test_registered_executor_gets_its_options_and_gives_the_local_rows(tmp_path: Path,
                                                                       first: Run) -> None:
    ReversedExecutor.made.clear()
    run = run_tiny(tmp_path, executor="test-reversed", executor_options={"tag": "backwards"})
    (executor,) = ReversedExecutor.made
    assert executor.tag == "backwards"
    assert {job.kwargs["device"] for job in executor.jobs} == {"cpu"}
    assert [job.key for job in executor.jobs] == [("protoclr", 0), ("protonet", 0),
                                                  ("random", 0)]
    with Store(first.store) as a, Store(run.store) as b:
        local = {r.key: r for r in a.results(with_episodes=True)}
        reversed_ = {r.key: r for r in b.results(with_episodes=True)}
        assert {(r.method, r.status, r.steps) for r in b.runs("tiny")} == {
            (r.method, r.status, r.steps) for r in a.runs("tiny")}
    assert local.keys() == reversed_.keys()
    for key, row in local.items():
        assert reversed_[key].accuracy == row.accuracy, key
        assert reversed_[key].ci95 == row.ci95, key
        assert reversed_[key].episode_accuracies == row.episode_accuracies, key


def test_unknown_executor_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match=r"unknown executor 'slurm' \(known: local"):
        run_tiny(tmp_path, executor="slurm")
    _nothing_written(tmp_path, set())


def test_unknown_device_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="unknown device 'tpu'"):
        runner.run_file(TINY, store_path=tmp_path / "store.sqlite", runs_dir=tmp_path / "runs",
                        report_dir=tmp_path / "report", device="tpu")
    _nothing_written(tmp_path, set())


def test_a_job_resolves_its_device_and_records_it(tmp_path: Path) -> None:
    """Given ``auto``, the job records the device it resolved to where it ran."""
    from benchmark.spec.file import load_specs

    (spec,) = load_specs(TINY)
    cells = runner.cells_of(spec)[:1]
    result = runner.run_job(spec, "protonet", 0, runs_dir=tmp_path, device="auto", cells=cells)
    here = str(resolve_device("auto"))
    assert result.run.device == here and [r.device for r in result.rows] == [here]
    floor = runner.run_job(spec, "random", 0, runs_dir=tmp_path, device="auto", cells=cells)
    assert floor.run is None and [r.device for r in floor.rows] == [here]


def test_the_driver_hands_jobs_the_requested_device(tmp_path: Path) -> None:
    """The driver passes the device *name* on; the records carry what the job made of it."""
    spec = write_spec(tmp_path, lambda d: (d.update(device="auto"), d["methods"].pop(),
                                           d["eval"].update(settings=[{"ways": 5, "shots": 1}],
                                                            heads=["prototype"])))
    ReversedExecutor.made.clear()
    runner.run_file(spec, store_path=tmp_path / "store.sqlite", runs_dir=tmp_path / "runs",
                    report_dir=tmp_path / "report", executor="test-reversed",
                    executor_options={"tag": "auto"})
    assert [job.kwargs["device"] for job in ReversedExecutor.made[0].jobs] == ["auto", "auto"]
    here = str(resolve_device("auto"))
    with Store(tmp_path / "store.sqlite") as store:
        assert [r.device for r in store.results("tiny")] == [here, here]
        assert [r.device for r in store.runs("tiny")] == [here]


def test_cli_run_prints_the_progress_lines(cli_run: CliRun, capsys) -> None:
    store, argv, tmp_path = cli_run.root / "store.sqlite", cli_run.argv, cli_run.root
    assert cli_run.code == 0
    assert cli_run.err == ""
    lines = cli_run.out.splitlines()
    assert lines[0] == f"tiny: 3 job(s) to run, 0 already done (store {store}, device cpu)"
    for label in ("random", "protonet", "protoclr"):
        assert f"tiny: {label} seed 0 ..." in lines
        done = [line for line in lines if line.startswith(f"tiny: {label} seed 0 done (")]
        assert len(done) == 1 and done[0].count("omniglot/evaluation 5w") == 4
    assert any(line.startswith("| ") for line in lines)
    assert lines[-1].startswith("wrote ") and str(tmp_path / "report.md") in lines[-1]
    assert cli.main([*argv, "--executor", "nosuch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: unknown executor 'nosuch' (known: local, ray, test-reversed, torchrun)"]
