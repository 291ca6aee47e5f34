"""The evaluation's precision (``eval.precision``): float32 embeds as before, a reduced precision
embeds under autocast and hands float32 features on, the job hash changes only when the
evaluation does, and bad values are refused with one line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from benchmark import precision
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.evaluation import evaluate, fixed_episodes
from benchmark.heads import PrototypeHead
from benchmark.methods import build_method
from benchmark.runner.checks import check_eval_precision
from benchmark.spec.benchmark_spec import load_spec, parse_spec
from fixtures_data import blob_split

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
SHAPE = (1, 16, 16)

pytestmark = pytest.mark.usefixtures("one_thread")


class Recorder(torch.nn.Module):
    """A ProtoNet whose ``embed`` records the autocast state and dtype it ran under."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.method = build_method("protonet", "conv4", SHAPE)
        self.seen: list[tuple[bool, torch.dtype]] = []

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out = self.method.embed(x)
        self.seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
        return out


@pytest.fixture(scope="module")
def split() -> Split:
    return blob_split(10, 6, SHAPE, signal=0.5)


def by_hand(model: Recorder, episodes: list) -> np.ndarray:
    """Per-episode prototype accuracies with every image embedded in float32, no autocast."""
    accuracies = []
    with torch.no_grad():
        model.eval()
        for e in episodes:
            support, query = model.method.embed(e.support), model.method.embed(e.query)
            got = PrototypeHead().classify(support[None], e.support_labels[None], query[None],
                                           e.ways)[0]
            accuracies.append((got == e.query_labels).double().mean().item())
    return np.array(accuracies)


@pytest.mark.parametrize("count", [3, 40])  # 3: every episode embedded; 40: the split once
def test_float32_is_the_plain_embedding(split: Split, count: int) -> None:
    model = Recorder()
    episodes = fixed_episodes(split, 5, 1, 3, count, seed=0)
    result = evaluate(model, episodes, precision="float32")
    assert np.array_equal(result.accuracies, by_hand(model, list(episodes)))
    assert set(model.seen) == {(False, torch.float32)} and result.precision == "float32"
    assert "embedded in" not in result.summary()


@pytest.mark.parametrize("count", [3, 40])
def test_bfloat16_embeds_under_autocast_and_hands_on_float32(split: Split, count: int) -> None:
    model = Recorder()
    episodes = fixed_episodes(split, 5, 1, 3, count, seed=0)
    full = evaluate(model, episodes)
    model.seen.clear()
    half = evaluate(model, episodes, precision="bfloat16")
    assert set(model.seen) == {(True, torch.bfloat16)}
    assert half.precision == "bfloat16" and half.summary().endswith("; embedded in bfloat16)")
    assert half.accuracies.dtype == np.float64
    assert abs(half.mean - full.mean) <= 0.15  # the same representation, rounded


def test_bfloat16_features_are_float32_and_close(split: Split) -> None:
    from benchmark.heads import embed_episodes

    model = Recorder().eval()
    episodes = list(fixed_episodes(split, 5, 1, 3, 2, seed=0))
    with torch.no_grad():
        full = embed_episodes(model, episodes)
        with precision.autocast("bfloat16", torch.device("cpu")):
            half = embed_episodes(model, episodes)
    for a, b in zip(full, half):
        assert b.dtype == torch.float32 and not torch.equal(a, b)
        assert torch.allclose(a, b, rtol=0.05, atol=0.05 * a.abs().max().item())


def test_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: [])
    assert precision.resolve_eval("auto", cpu).precision == "float32"
    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: ["avx512_bf16"])
    assert precision.resolve_eval("auto", cpu) == precision.Choice(
        "bfloat16", "auto: CPU has avx512_bf16")


def tiny(**eval_and_trainer: str) -> dict:
    data = yaml.safe_load(TINY.read_text())
    if "eval_precision" in eval_and_trainer:
        data["eval"]["precision"] = eval_and_trainer["eval_precision"]
    if "trainer_precision" in eval_and_trainer:
        data["methods"][0]["trainer"] = {"precision": eval_and_trainer["trainer_precision"]}
    return data


def test_the_trainer_precision_is_the_default() -> None:
    spec = parse_spec(tiny(trainer_precision="bfloat16"))
    assert spec.eval.precision == "trainer"
    assert spec.eval_precision("protonet") == "bfloat16"
    assert spec.eval_precision("protoclr") == spec.eval_precision("random") == "float32"
    forced = parse_spec(tiny(trainer_precision="bfloat16", eval_precision="float32"))
    assert forced.eval_precision("protonet") == "float32"


def test_the_job_hash_changes_only_with_the_embedding() -> None:
    before = parse_spec(tiny())
    same = [parse_spec(tiny(eval_precision="float32")), parse_spec(tiny(eval_precision="trainer"))]
    for spec in same:
        assert all(spec.job_hash(label) == before.job_hash(label) for label in before.labels)
    reduced = parse_spec(tiny(eval_precision="bfloat16"))
    assert all(reduced.job_hash(label) != before.job_hash(label) for label in before.labels)
    trained = parse_spec(tiny(trainer_precision="bfloat16"))
    evaluated_in_float32 = parse_spec(tiny(trainer_precision="bfloat16", eval_precision="float32"))
    assert trained.job_hash("protonet") != evaluated_in_float32.job_hash("protonet")
    assert trained.job_hash("protoclr") == before.job_hash("protoclr")


def test_the_quick_table_keeps_its_hashes() -> None:
    """The committed quick table's rows stay current: its labels hash as when it was made."""
    spec = load_spec(ROOT / "tasks" / "quick.yaml")
    header = (ROOT / "results" / "quick.md").read_text()
    stored = set(re.search(r"spec hashes: (.*)", header).group(1).split(", "))
    assert {spec.job_hash(label) for label in spec.labels} == stored


@pytest.mark.parametrize("value, message", [
    ("half", "expected one of trainer, float32, bfloat16, float16, auto"),
    (16, "expected"),
])
def test_a_bad_value_is_refused_in_one_line(value: object, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message) as err:
        parse_spec(tiny(eval_precision=value))  # type: ignore[arg-type]
    assert "eval.precision" in str(err.value) and "\n" not in str(err.value)


def test_float16_on_a_cpu_is_refused_before_any_work(split: Split) -> None:
    spec = parse_spec(tiny(eval_precision="float16"))
    with pytest.raises(BenchmarkError, match="eval.precision: .*float16 needs CUDA"):
        check_eval_precision(spec, "cpu")
    with pytest.raises(BenchmarkError, match="float16 needs CUDA"):
        evaluate(Recorder(), fixed_episodes(split, 5, 1, 3, 2, seed=0), precision="float16")
    check_eval_precision(parse_spec(tiny(eval_precision="bfloat16")), "cpu")


def test_a_job_records_its_precision_and_the_header_names_it(tmp_path: Path) -> None:
    from benchmark import runner
    from benchmark.report.header import precision_line

    spec = parse_spec(tiny(eval_precision="bfloat16"))
    cells = runner.cells_of(spec)[:1]
    rows = [*runner.run_job(spec, "protonet", 0, runs_dir=tmp_path, cells=cells).rows,
            *runner.run_job(spec, "random", 0, runs_dir=tmp_path, cells=cells).rows]
    assert [r.eval_precision for r in rows] == ["bfloat16", "bfloat16"]
    assert [r.spec_hash for r in rows] == [spec.job_hash("protonet"), spec.job_hash("random")]
    assert precision_line(rows) == "evaluation precision: bfloat16"


@pytest.mark.parametrize("trainer_precision, features, recorded", [
    ("bfloat16", ["avx512_bf16"], "bfloat16"),
    ("auto", [], "float32"),  # auto, resolved: no bfloat16 instructions, no probe
])
def test_a_run_records_the_precision_its_steps_ran_in(tmp_path: Path, monkeypatch, capsys,
                                                      trainer_precision: str, features: list[str],
                                                      recorded: str) -> None:
    from benchmark import runner
    from benchmark.store import Store

    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: features)
    spec = parse_spec(tiny(trainer_precision=trainer_precision))
    run = runner.run_job(spec, "protonet", 0, runs_dir=tmp_path, cells=runner.cells_of(spec)[:1]).run
    assert run is not None and run.precision == recorded
    said = "train: in float32 (auto: CPU has neither AMX nor AVX512-BF16)\n"  # auto says its choice
    assert (said in capsys.readouterr().err) == (trainer_precision == "auto")
    with Store(tmp_path / "s.sqlite") as store:  # a stored column, read back as written
        store.set_run(run)
        assert store.get_run(spec.name, "protonet", 0) == run


def test_the_plan_names_the_precision(tmp_path: Path) -> None:
    from benchmark.runner.driver import plan_file

    text = plan_file(tiny(eval_precision="bfloat16"), tmp_path / "r.sqlite", only=["random"])
    assert "random seed 0: evaluate 4 of 4 cells in bfloat16 (~" in text
    with pytest.raises(BenchmarkError, match="float16 needs CUDA"):
        plan_file(tiny(eval_precision="float16"), tmp_path / "r.sqlite", device="cpu")


def test_the_eval_command_takes_a_precision(capsys) -> None:
    from benchmark.cli import main

    argv = ["eval", "--backbone", "conv4", "--dataset", "omniglot", "--split", "evaluation",
            "--episodes", "2", "--device", "cpu"]
    assert main([*argv, "--precision", "bfloat16"]) == 0
    assert capsys.readouterr().out.strip().endswith("; embedded in bfloat16)")
    assert main([*argv, "--precision", "half"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: precision must be one of")
