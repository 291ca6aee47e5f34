"""The runner's progress lines: their exact text on the CLI's stdout, and silence for a library
user who configures no logging."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pytest

from benchmark import cli
from benchmark.runner import progress
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.spec.file import load_specs
from benchmark.store import ResultRow

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


@pytest.fixture
def spec() -> BenchmarkSpec:
    (spec,) = load_specs(TINY)
    return spec


@pytest.fixture
def benchmark_logger() -> Iterator[logging.Logger]:
    """The ``benchmark`` logger, restored after the test."""
    logger = logging.getLogger("benchmark")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
    logger.setLevel(level)


def _row(ways: int, shots: int, head: str, accuracy: float) -> ResultRow:
    return ResultRow(
        benchmark="tiny", method="protonet", train_dataset="omniglot", train_split="background",
        eval_dataset="omniglot", eval_split="evaluation", ways=ways, shots=shots, queries=3,
        head=head, seed=0, accuracy=accuracy, ci95=0.1, episodes=4, eval_seed=0, steps=2,
        train_seconds=0.0, eval_seconds=0.0, device="cpu", commit="c", versions="{}",
        spec_hash="0" * 16, train_fingerprint="t", eval_fingerprint="e")


def _every_line(spec: BenchmarkSpec) -> None:
    progress.configuration_changed(spec, "protonet", 0, "aaaa", Path("runs/x.stale-aaaa"))
    progress.configuration_changed(spec, "protonet", 1, "aaaa", None)
    progress.planned(spec, 1, 0, Path("store.sqlite"), "cpu")
    progress.started(spec, "protonet", 0)
    progress.finished(spec, "protonet", 0, [_row(5, 1, "prototype", 0.5),
                                            _row(5, 2, "prototype_cosine", 0.6789)])
    progress.finished(spec, "random", 0, [])
    progress.failed(spec, "protoclr", 0, "diverged at step 1")
    progress.reported("| table |\n", [Path("r/transfer.md"), Path("r/transfer.csv")])


def test_the_cli_prints_the_lines_plain_on_stdout(spec: BenchmarkSpec, benchmark_logger,
                                                  capsys) -> None:
    cli.log_to_stdout()
    cli.log_to_stdout()  # idempotent: one handler
    _every_line(spec)
    new = spec.job_hash("protonet")
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines() == [
        f"tiny: protonet seed 0: configuration changed (spec hash aaaa -> {new}); retraining, "
        "previous run kept in runs/x.stale-aaaa",
        f"tiny: protonet seed 1: configuration changed (spec hash aaaa -> {new}); retraining",
        "tiny: 1 job(s) to run, 2 already done (store store.sqlite, device cpu)",
        "tiny: protonet seed 0 ...",
        "tiny: protonet seed 0 done (omniglot/evaluation 5w1s prototype: 50.00, "
        "omniglot/evaluation 5w2s prototype_cosine: 67.89)",
        "tiny: random seed 0 done (nothing left to evaluate)",
        "tiny: protoclr seed 0 FAILED: diverged at step 1",
        "| table |",
        "",
        "wrote r/transfer.md, r/transfer.csv",
    ]


def test_a_library_user_gets_nothing_without_a_logging_configuration(
        spec: BenchmarkSpec, benchmark_logger, monkeypatch, capsys) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # pytest's own capture, too
    monkeypatch.setattr(benchmark_logger, "handlers", [])  # an earlier in-process CLI call's
    _every_line(spec)
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------- progress without a terminal


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_period_without_a_terminal() -> None:
    import io

    from benchmark.bars import Lines, progress_bar

    stream, clock = io.StringIO(), _Clock()
    bar = Lines(100, 20, "train", stream=stream, period=30.0, clock=clock)
    for _ in range(10):
        clock.now += 2.0
        bar.update()
    assert stream.getvalue() == ""                     # 20 s: not yet a period
    clock.now += 10.0
    bar.set_postfix(loss="0.5000")
    bar.update()
    assert stream.getvalue() == ("train: 31/100 steps (31%), 0.37 steps/s, ETA 3m08s, "
                                 "loss=0.5000\n")
    bar.close()
    assert stream.getvalue().splitlines()[-1] == "train: 31/100 steps in 30s, loss=0.5000"
    piped = io.StringIO()
    assert isinstance(progress_bar(10, 4, "train", None, piped), Lines)
    assert piped.getvalue() == "train: resumed at step 4 of 10\n"
    assert not isinstance(progress_bar(10, 0, "train", True, piped), Lines)


def test_eta_counts_steps_left_at_the_measured_rate(spec: BenchmarkSpec) -> None:
    from benchmark.executors.base import Job, Outcome
    from benchmark.runner.job import JobResult
    from benchmark.store import RunRecord

    clock = _Clock()
    overall = progress.Overall(spec, {("random", 0): 0, ("protonet", 0): 100,
                                      ("protoclr", 0): 300}, clock=clock)

    def done(label: str, steps: int, train: float, evaluate: float) -> Outcome:
        run = RunRecord("tiny", label, 0, "done", steps=steps, wall_seconds=train)
        row = _row(5, 1, "prototype", 0.5)
        from dataclasses import replace
        return Outcome(Job((label, 0), print), JobResult((replace(row, eval_seconds=evaluate),),
                                                         run if steps else None))

    clock.now = 4.0
    overall.job_done(done("random", 0, 0.0, 4.0))
    assert overall.line() == "tiny: 1/3 jobs done, elapsed 4s, ETA ?"  # no step timed yet
    clock.now = 58.0
    overall.job_done(done("protonet", 100, 50.0, 4.0))
    # 300 steps at 2 steps/s, and one job's evaluation (4 s mean): 2m34s
    assert overall.line() == "tiny: 2/3 jobs done, elapsed 58s, ETA 2m34s"
    # another process holds protoclr: its steps leave this process's ETA, and come back with it
    overall.held_elsewhere(("protoclr", 0))
    assert overall.line() == "tiny: 2/3 jobs done (1 running elsewhere), elapsed 58s, ETA 0s"
    overall.taken_back(("protoclr", 0), 200)
    assert overall.line() == "tiny: 2/3 jobs done, elapsed 58s, ETA 1m44s"
    overall.held_elsewhere(("protoclr", 0))
    overall.done_elsewhere(("protoclr", 0))
    assert overall.line() == "tiny: 3/3 jobs done, elapsed 58s, ETA 0s"


def test_plan_counts_the_steps_left_after_a_checkpoint(spec: BenchmarkSpec, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.runner import planning
    from benchmark.store import Store

    folder = tmp_path / "runs" / "tiny" / "protonet" / "seed0"
    folder.mkdir(parents=True)
    monkeypatch.setattr(planning, "checkpoint_step",
                        lambda path: 1 if path == folder else 0)
    with Store(tmp_path / "s.sqlite") as store:
        assert planning.steps_left(spec, store, "protonet", 0, tmp_path / "runs") == (1, 1)
        assert planning.steps_left(spec, store, "protoclr", 0, tmp_path / "runs") == (2, 0)
        assert planning.steps_left(spec, store, "random", 0, tmp_path / "runs") == (0, 0)
    job = planning.PlannedJob("tiny", "protonet", 0, 1, 0, 4, False, None, None, resumes=1)
    assert job.line() == "protonet seed 0: train 1 steps left (resumes at step 1 of 2)"


def test_evaluation_reports_its_episodes_without_a_terminal(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import benchmark
    from benchmark import bars

    monkeypatch.setattr(bars, "PERIOD_S", 0.0)
    benchmark.evaluate(lambda x: x.flatten(1), "omniglot", 5, 1, split="evaluation",
                       episodes=4, queries=1, progress=None)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("eval prototype: ") and "/4 episodes" in err[0]
    assert err[-1].startswith("eval prototype: 4/4 episodes in ")
    benchmark.evaluate(lambda x: x.flatten(1), "omniglot", 5, 1, split="evaluation",
                       episodes=4, queries=1)
    assert capsys.readouterr().err == ""                 # the API's default: quiet


def test_a_run_that_stops_at_a_compute_mark_shows_no_step_total_or_eta() -> None:
    """A marked run ends at its last CPU-minute mark, not at ``trainer.steps`` (a cap): its
    lines once said "ETA 891h" from the cap."""
    import io

    from benchmark.bars import Lines, progress_bar

    stream, clock = io.StringIO(), _Clock()
    bar = Lines(None, 0, "train", stream=stream, period=30.0, clock=clock)
    bar.set_postfix(cpu="0.50/4min")
    for _ in range(15):
        clock.now += 2.0
        bar.update()
    assert stream.getvalue() == "train: 15 steps, 0.50 steps/s, cpu=0.50/4min\n"
    bar.close()
    assert stream.getvalue().splitlines()[-1] == "train: 15 steps in 30s, cpu=0.50/4min"
    piped = io.StringIO()
    progress_bar(None, 7, "train", None, piped)
    assert piped.getvalue() == "train: resumed at step 7\n"


@pytest.mark.parametrize("meta_batch, precision", [(1, "float32"), (3, "bfloat16")])
def test_the_plan_probe_times_the_step_the_trainer_takes(
        meta_batch: int, precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe once timed one episode a step in float32 whatever the trainer's meta-batch
    and precision (reproduce/maml's 32-task steps were estimated as 1-task steps)."""
    import yaml

    from benchmark.runner import probe
    from benchmark.spec.benchmark_spec import load_spec

    raw = yaml.safe_load(TINY.read_text())
    raw["trainer"].update(meta_batch=meta_batch, precision=precision)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    taken: list[tuple[int, str]] = []

    class Recording(probe.TrainStep):
        def __call__(self, episodes):  # type: ignore[override]
            taken.append((len(episodes), self.precision))
            return super().__call__(episodes)

    monkeypatch.setattr(probe, "TrainStep", Recording)
    assert probe.step_seconds(load_spec(path), "protonet", None, "cpu", steps=2) > 0
    assert taken == [(meta_batch, precision)] * 3     # one warm-up step, then the two timed
