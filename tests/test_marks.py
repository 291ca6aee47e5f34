"""Compute marks (``TrainConfig.marks``, ``benchmark.train.marks``): checkpoints kept at stated
training CPU-minutes, read on an injected clock (no real timing): each step's episode draw
costs 15 CPU-seconds, validation 60 (left out of the clock)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pytest
import torch
import yaml

from benchmark import runner

from benchmark.checkpoint import load_checkpoint
from benchmark.data import load_split
from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.methods import ModelSpec
from benchmark.runner.planning import steps_left
from benchmark.samplers import build_sampler
from benchmark.spec.file import load_specs
from benchmark.spec.schema import Invalid
from benchmark.store import ResultRow, Store
from benchmark.train import TrainConfig, train
from benchmark.train.marks import mark_path

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"
SPEC = ModelSpec("protonet", "conv4", (1, 28, 28), {})
STEP_SECONDS, VALIDATION_SECONDS = 15.0, 60.0


class FakeCpu:
    """A CPU clock that only the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Costly:
    """Labelled 3-way episodes whose draw costs ``STEP_SECONDS`` on ``cpu``."""

    def __init__(self, cpu: FakeCpu) -> None:
        self.inner = build_sampler("labels", load_split("omniglot", "background"), 3, 1, 2)
        self.kind, self.offers = self.inner.kind, self.inner.offers
        self.ways, self.shots, self.queries = self.inner.ways, self.inner.shots, self.inner.queries
        self.cpu = cpu

    def sample(self, seed: int) -> Episode:
        return self.sample_batch([seed])[0]

    def sample_batch(self, seeds: Sequence[int]) -> list[Episode]:
        self.cpu.now += STEP_SECONDS
        return self.inner.sample_batch(seeds)


def run(folder: Path, marks: tuple[float, ...], steps: int = 100, val_every: int = 0):
    cpu = FakeCpu()

    def validate(method: torch.nn.Module) -> float:
        cpu.now += VALIDATION_SECONDS
        return 0.5

    torch.manual_seed(0)
    config = TrainConfig(steps=steps, marks=marks, val_every=val_every, checkpoint_every=50,
                         seed=1, device="cpu", progress=False, tensorboard=False)
    model = SPEC.build()
    return model, train(model, Costly(cpu), config, folder, validate, model_spec=SPEC,
                        cpu_timer=cpu)


def test_a_checkpoint_is_kept_at_each_mark_and_the_run_stops_at_the_last(tmp_path: Path) -> None:
    _, result = run(tmp_path, (0.5, 1.25), val_every=1)  # validation every step: off the clock
    assert result.steps == 5 and result.cpu_seconds == 75.0
    for mark, step in [(0.5, 2), (1.25, 5)]:
        kept = load_checkpoint(mark_path(tmp_path, mark))
        assert (kept["mark"], kept["step"], kept["cpu_seconds"]) == (mark, step, step * 15.0)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 5
    assert sorted(p.name for p in tmp_path.glob("mark_*.pt")) == ["mark_0.5.pt", "mark_1.25.pt"]


def test_later_marks_resume_a_finished_run_as_if_it_had_never_stopped(tmp_path: Path) -> None:
    straight, _ = run(tmp_path / "a", (0.5, 1.0))
    run(tmp_path / "b", (0.5,))
    resumed, result = run(tmp_path / "b", (0.5, 1.0))
    assert (result.resumed_from, result.steps) == (2, 4)
    assert load_checkpoint(mark_path(tmp_path / "b", 1.0))["cpu_seconds"] == 60.0
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    again, result = run(tmp_path / "b", (0.5, 1.0))  # finished: nothing more trains
    assert (result.resumed_from, result.steps) == (4, 4)


def test_a_mark_before_the_resumed_clock_is_refused(tmp_path: Path) -> None:
    run(tmp_path, (1.0,))
    with pytest.raises(BenchmarkError, match="mark.*0.5 CPU-min lie before"):
        run(tmp_path, (0.5, 1.0, 2.0))


def test_steps_running_out_before_the_last_mark_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match=r"trainer.steps \(3\) ran out .* before mark\(s\) 1"):
        run(tmp_path, (0.5, 1.0), steps=3)


@pytest.mark.parametrize("marks", [(0.0,), (2.0, 1.0), (1.0, 1.0), (-1.0,)])
def test_marks_must_be_increasing_and_positive(marks: tuple[float, ...]) -> None:
    with pytest.raises(Invalid, match="marks: expected increasing CPU-minutes > 0"):
        TrainConfig(marks=marks)


def test_the_runner_stores_one_row_per_mark_and_extends_the_marks_by_resuming(
        tmp_path: Path, monkeypatch) -> None:
    clock = FakeCpu()

    def cpu() -> float:  # every reading of the CPU clock costs 5 CPU-seconds
        clock.now += 5.0
        return clock.now

    monkeypatch.setattr(time, "process_time", cpu)
    data = yaml.safe_load(TINY.read_text())
    data["methods"] = data["methods"][:1]
    data["trainer"].update(steps=1000, marks=[0.5, 1.0], checkpoint_every=100)
    data["eval"].update(settings=[{"ways": 5, "shots": 1}], heads=["prototype"])
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    store_path, runs = tmp_path / "store.sqlite", tmp_path / "runs"

    def rows() -> dict[float, ResultRow]:
        runner.run_file(spec, store_path=store_path, runs_dir=runs,
                        report_dir=tmp_path / "report", device="cpu")
        with Store(store_path) as store:
            return {r.mark: r for r in store.results() if r.method == "protonet"}

    def planned() -> tuple[int, int]:
        """What ``benchmark run --plan`` counts: (steps left, the step it resumes from)."""
        (loaded,) = load_specs(spec)
        with Store(store_path) as store:
            return steps_left(loaded, store, "protonet", 0, runs)

    first = rows()
    assert planned() == (0, 0)
    assert sorted(first) == [0.5, 1.0] and first[0.5].steps < first[1.0].steps
    assert 30 <= first[0.5].train_seconds < first[1.0].train_seconds
    data["trainer"]["marks"] = [0.5, 1.0, 2.0]
    spec.write_text(yaml.safe_dump(data))
    assert planned() == (1000 - first[1.0].steps, first[1.0].steps)  # the new mark trains on
    second = rows()
    assert planned() == (0, 0)
    assert sorted(second) == [0.5, 1.0, 2.0] and second[2.0].steps > first[1.0].steps
    assert {m: second[m] for m in first} == first  # kept, not evaluated again
    assert len({r.spec_hash for r in second.values()}) == 1
    assert not list((runs / "tiny" / "protonet").glob("*stale*"))  # resumed, not retrained


def marked_row(method: str, mark: float, seed: int, accuracy: float, **changes) -> ResultRow:
    """A stored row of the matched-compute kind: 5-way 1-shot Omniglot, 4 episodes."""
    values = dict(
        benchmark="mc", method=method, train_dataset="omniglot", train_split="vinyals_train",
        eval_dataset="omniglot", eval_split="vinyals_test", ways=5, shots=1, queries=15,
        head="prototype", seed=seed, accuracy=accuracy, ci95=0.01, episodes=4, eval_seed=0,
        steps=int(100 * mark), train_seconds=60 * mark, eval_seconds=1.0, device="cpu",
        commit="abc", versions="{}", spec_hash=f"h-{method}", train_fingerprint="t",
        eval_fingerprint="e", method_name=method, backbone="conv4", mark=mark,
        episode_accuracies=(accuracy,) * 4)
    values.update(changes)
    return ResultRow(**values)


def test_the_matched_compute_tables_put_methods_against_marks(tmp_path: Path) -> None:
    from benchmark.report import matched_compute
    from benchmark.report.render import render_benchmark, render_from_files

    rows = [marked_row("protonet", mark, seed, 0.6 + 0.1 * mark + 0.01 * seed)
            for mark in (1.0, 2.0) for seed in (0, 1)]
    rows += [marked_row("simclr", mark, 0, 0.5 + 0.1 * mark) for mark in (1.0, 2.0)]
    rows.append(marked_row("random", 0.0, 0, 0.3, method_name="random", spec_hash="h-r"))
    with Store(tmp_path / "store.sqlite") as store:
        store.put_results(rows)
        report = render_benchmark(store, "mc", tmp_path / "mc",
                                  supervision={"protonet": "labels", "simclr": "none"})
    [table] = matched_compute.build(rows, "mc", {"protonet": "labels"})
    assert table.marks == (1.0, 2.0) and table.methods == ("protonet", "simclr")
    both = table.cells[("protonet", 2.0)]
    assert both.seeds == 2 and both.mean == pytest.approx(0.805) and both.seed_ci95 > 0
    assert table.published["protonet"].accuracy == 98.8 and table.published["simclr"] is None
    assert table.floor.mean == 0.3
    meta = [marked_row("fomaml", 1.0, 0, 0.8, method_name="maml", head="native",
                       variant="first_order"), marked_row("maml", 1.0, 0, 0.9, head="native")]
    [native] = matched_compute.build(meta, "mc", {"fomaml": "labels", "maml": "labels"})
    assert {m: native.published[m].method for m in native.methods} == {  # the rows' variant
        "fomaml": "first-order MAML", "maml": "MAML"}
    text = report.markdown
    assert text.index("Accuracy at matched training compute") < text.index("transfer")
    assert ("| protonet | **70.5 ± 0.0 (seeds ± 6.4)** | **80.5 ± 0.0 (seeds ± 6.4)** | 98.8 | "
            "early-stopped") in text  # seed-averaged episodes: the same in both seeds here
    assert "budget: protonet 1/2 training CPU-min (100/200 steps) × 2 seeds" in text
    assert "Random-init floor (no training): 30.0 ± 1.0." in text
    # the transfer table: each run at its last mark (2 seeds of protonet, not 4 rows)
    cell = report.table.cells[report.table.cells.method == "protonet"].iloc[0]
    assert (cell.seeds, round(cell["mean"], 3)) == (2, 0.805)
    marks_csv = (tmp_path / "mc.marks.csv").read_text().splitlines()
    assert sum(1 for line in marks_csv if line.startswith("mc,")) == 4
    assert (tmp_path / "mc" / "accuracy_vs_cpu_minutes_prototype.png").is_file()
    assert "\\begin{tabular}" in (tmp_path / "mc.marks.tex").read_text()
    assert "Accuracy at matched training compute" in (tmp_path / "mc.html").read_text()
    (tmp_path / "mc.html").unlink()  # the page rebuilt without the store keeps the tables
    render_from_files(tmp_path, "mc")
    page = (tmp_path / "mc.html").read_text()
    assert "Accuracy at matched training compute" in page and "![" not in page
    assert "accuracy vs cpu minutes prototype" in page


def test_the_plan_says_how_far_a_marked_run_trains() -> None:
    from benchmark.runner.planning import PlannedJob

    job = PlannedJob("mc", "protonet", 0, trains=999_800, cells_left=4, cells=8, stale=False,
                     train_seconds=240.0, eval_seconds=None, resumes=200, marks=(1.0, 2.0, 4.0))
    assert job.line() == ("protonet seed 0: train until 4 CPU-min (marks 1, 2, 4) from the "
                          "checkpoint at step 200 (~4m00s), evaluate 4 of 8 cells in float32")
