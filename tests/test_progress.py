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
    progress.planned(spec, 1, Path("store.sqlite"), "cpu")
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
