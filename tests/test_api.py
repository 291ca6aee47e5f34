"""The Python API: its doctests, ``run`` gives the rows the CLI gives, ``results`` reads a store,
``evaluate`` takes any encoder."""

from __future__ import annotations

import doctest
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import benchmark
from benchmark import api, cli
from benchmark.errors import BenchmarkError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"
#: Columns that differ between two runs of one spec (timings, where the store is).
VOLATILE = ["train_seconds", "eval_seconds", "created_at"]


def test_doctests(monkeypatch) -> None:
    """As a library user sees them: no progress lines (an earlier test's CLI call may have
    put the ``benchmark`` logger on stdout)."""
    monkeypatch.setattr(logging.getLogger("benchmark"), "handlers", [])
    failures, tried = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert tried >= 10 and failures == 0


def test_run_returns_the_rows_the_cli_stores(tmp_path: Path) -> None:
    a, b = tmp_path / "cli", tmp_path / "api"
    assert cli.main(["run", str(TINY), "--store", str(a / "s.sqlite"), "--runs-dir",
                     str(a / "runs"), "--report-dir", str(a / "report"), "--device", "cpu",
                     "--set", "eval.episodes=3"]) == 0
    rows = benchmark.run(TINY, store=b / "s.sqlite", runs_dir=b / "runs",
                         report_dir=b / "report", device="cpu", set={"eval.episodes": 3})
    from_cli = benchmark.results(a / "s.sqlite", spec="tiny")
    assert len(rows) == 12 and set(rows["episodes"]) == {3}
    keep = [c for c in rows.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(rows[keep], from_cli[keep])
    assert {"commit", "versions", "device", "spec_hash", "train_fingerprint",
            "eval_fingerprint", "input_conversion"} <= set(rows.columns)
    with_episodes = benchmark.results(b / "s.sqlite", episodes=True)
    assert all(len(e) == 3 for e in with_episodes["episode_accuracies"])
    assert np.allclose([np.mean(e) for e in with_episodes["episode_accuracies"]],
                       with_episodes["accuracy"])


def test_run_takes_top_level_overrides_and_only(tmp_path: Path) -> None:
    rows = benchmark.run(TINY, store=tmp_path / "s.sqlite", runs_dir=tmp_path / "runs",
                         report_dir=tmp_path / "report", device="cpu", only=["protonet"],
                         seeds=[1], set={"eval.episodes": 2})
    assert set(rows["method"]) == {"protonet"} and set(rows["seed"]) == {1}


def test_results_refuses_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="does not exist"):
        benchmark.results(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def test_evaluate_takes_a_module_a_callable_or_a_name() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())
    common = dict(split="evaluation", episodes=5, queries=2)
    as_module = benchmark.evaluate(net, "omniglot", 5, 1, **common)
    as_callable = benchmark.evaluate(lambda x: net(x), "omniglot", 5, 1, **common)
    assert as_module.accuracies.tolist() == as_callable.accuracies.tolist()
    named = benchmark.evaluate("conv4", "omniglot", 5, 1, **common)
    assert named.episodes == 5 and 0.0 <= named.mean <= 1.0
    converted = benchmark.evaluate(lambda x: x.flatten(1), "omniglot", 5, 1,
                                   convert="channels=3,size=32", **common)
    assert converted.input_conversion.startswith("grey→RGB")
    with pytest.raises(BenchmarkError, match="weights go with a backbone name"):
        benchmark.evaluate(net, "omniglot", 5, 1, weights="w.pth", **common)
    with pytest.raises(BenchmarkError, match="unknown head"):
        benchmark.evaluate(net, "omniglot", 5, 1, head="nope", **common)
