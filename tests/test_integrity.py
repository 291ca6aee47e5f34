"""Rows that cannot lie: a checkpoint is reused only by the job that wrote it, a prepared
dataset is one preparation, a model without usable features is not scored, a report shows
only the rows of the spec that was run, and committed results are never overwritten."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

import benchmark
from benchmark import export, runner
from benchmark.checkpoint import ModelSpec, load_checkpoint, save_checkpoint
from benchmark.cli import dataset_tools as commands
from benchmark.data import cache, load_split
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.evaluation import evaluate_checkpoint
from benchmark.report.index import render_indexes
from benchmark.runner import driver
from benchmark.runner.job import run_job
from benchmark.store import Store
from benchmark.train import DivergedError
from fixtures_data import FAKES

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def tiny_spec(folder: Path, edit=lambda data: None, name: str = "spec.yaml") -> Path:
    """tiny.yaml with one method (protonet), one setting, one head, edited by ``edit``."""
    data = yaml.safe_load(TINY.read_text())
    data["methods"] = data["methods"][:1]
    data["eval"]["settings"] = data["eval"]["settings"][:1]
    data["eval"]["heads"] = ["prototype"]
    edit(data)
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def run(spec: Path, folder: Path, store: str = "store.sqlite", **kwargs) -> Path:
    runner.run_file(spec, store_path=folder / store, runs_dir=folder / "runs",
                    report_dir=folder / "report", device="cpu", **kwargs)
    return folder / store


def test_a_checkpoint_of_another_training_split_is_not_reused(tmp_path: Path) -> None:
    run(tiny_spec(tmp_path), tmp_path, "first.sqlite")
    folder = tmp_path / "runs" / "tiny" / "protonet" / "seed0"
    before = load_checkpoint(folder / "last.pt")["spec"]
    assert before["train_split"] == "background" and before["train_fingerprint"]

    def other_split(data: dict) -> None:
        data["train"]["split"] = "vinyals_train"

    store = run(tiny_spec(tmp_path, other_split), tmp_path, "second.sqlite")  # a new store
    after = load_checkpoint(folder / "last.pt")["spec"]
    assert after["train_split"] == "vinyals_train"
    assert after["spec_hash"] != before["spec_hash"]
    kept = [p for p in folder.parent.iterdir() if p.name.startswith("seed0.stale-")]
    assert len(kept) == 1 and (kept[0] / "last.pt").is_file()  # the old run is kept aside
    with Store(store) as opened:
        rows = opened.results("tiny")
    assert {r.train_split for r in rows} == {"vinyals_train"}
    assert {r.spec_hash for r in rows if r.method == "protonet"} == {after["spec_hash"]}


# ---------------------------------------------------------------- one preparation


def test_a_preparation_killed_between_split_files_is_not_taken_as_prepared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    source = FAKES["mnist"](tmp_path)
    commands.prepare("mnist", source, root)
    written: list[str] = []
    real = cache.atomic_write

    def killed_after_one(path, write):
        if written:
            raise KeyboardInterrupt  # the kill, between two split files
        written.append(Path(path).name)
        return real(path, write)

    monkeypatch.setattr(cache, "atomic_write", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        commands.prepare("mnist", source, root, force=True)
    monkeypatch.setattr(cache, "atomic_write", real)
    assert written == ["train.pt"]
    assert not commands.prepare("mnist", source, root).skipped  # prepared again, not skipped
    assert load_split("mnist", "test", root).fingerprint


def test_split_files_of_two_preparations_are_refused(tmp_path: Path) -> None:
    first = tmp_path / "root"
    commands.prepare("mnist", FAKES["mnist"](tmp_path), first)
    original = load_split("mnist", "train", first)
    other = Split("mnist", "train", 255 - original.images, original.labels, original.class_names)
    torch.save({"images": other.images, "labels": other.labels,
                "class_names": list(other.class_names)}, first / "mnist" / "train.pt")
    with pytest.raises(BenchmarkError, match="different preparations; prepare mnist again"):
        load_split("mnist", "train", first)


@pytest.mark.parametrize("content", [
    b"not a torch file",
    pickle.dumps({"images": 1}),
    {"images": 3},
    {"images": torch.zeros(2, 1, 4, 4), "labels": torch.zeros(2), "class_names": ["a"]},
    {"images": torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "labels": torch.tensor([0, 7]),
     "class_names": ["a"]},
    [1, 2],
], ids=["bytes", "pickle", "int-images", "float-images", "label-out-of-range", "list"])
def test_a_corrupt_cache_file_is_refused_in_one_line(tmp_path: Path, content) -> None:
    root = tmp_path / "root"
    commands.prepare("mnist", FAKES["mnist"](tmp_path), root)
    path = root / "mnist" / "train.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(BenchmarkError) as caught:
        load_split("mnist", "train", root)
    assert "\n" not in str(caught.value) and "prepare mnist again" in str(caught.value)


@pytest.mark.parametrize("meta", ["[1, 2]", '{"splits": 3}', "{"])
def test_corrupt_metadata_is_refused_in_one_line(tmp_path: Path, meta: str) -> None:
    root = tmp_path / "root"
    commands.prepare("mnist", FAKES["mnist"](tmp_path), root)
    (root / "mnist" / "meta.json").write_text(meta)
    with pytest.raises(BenchmarkError, match="corrupt metadata"):
        load_split("mnist", "train", root)


def test_a_preparation_sweeps_temporary_files_of_a_killed_write(tmp_path: Path) -> None:
    root = tmp_path / "root"
    source = FAKES["mnist"](tmp_path)
    commands.prepare("mnist", source, root)
    left = root / "mnist" / ".train.pt.abc123.tmp"
    left.write_bytes(b"half")
    commands.prepare("mnist", source, root, force=True)
    assert not left.exists()


# ---------------------------------------------------------------- usable features


def nan_checkpoint(path: Path) -> Path:
    spec = ModelSpec("protonet", "conv4", (1, 28, 28))
    torch.manual_seed(0)
    weights = spec.build().state_dict()
    first = next(key for key, value in weights.items() if value.is_floating_point())
    weights[first] = torch.full_like(weights[first], float("nan"))
    return save_checkpoint(path, {"model_spec": spec.to_dict(), "model": weights, "step": 0})


def test_a_checkpoint_with_non_finite_weights_is_not_scored(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="weights are not finite .*not scored"):
        evaluate_checkpoint(nan_checkpoint(tmp_path / "nan.pt"), "omniglot", ways=5, shots=1,
                            queries=2, episodes=3, device="cpu")


class NanWeights(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(float("inf")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) * self.scale


@pytest.mark.parametrize("model, message", [
    (NanWeights(), "weights are not finite \\(scale holds NaN or infinite values\\)"),
    (lambda x: x.flatten(1) * float("nan"), "features are not finite"),
    (lambda x: torch.log(x.flatten(1) - 1), "features are not finite"),
    (lambda x: x.flatten(1).tolist(), "returned a list, not a tensor"),
    (lambda x: x.flatten(1)[:1], "shape \\[1, 784\\] for \\d+ images"),
    (lambda x: x.sum(), "shape \\[\\] for"),
    (lambda x: (x.flatten(1) * 255).long(), "torch.int64 features; expected floats"),
])
def test_a_module_without_usable_features_is_refused_through_the_api(model, message) -> None:
    with pytest.raises(BenchmarkError, match=message) as caught:
        benchmark.evaluate(model, "omniglot", ways=5, shots=1, queries=2, episodes=3)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- a failed run's report


def test_a_failed_run_leaves_no_earlier_numbers_under_its_header(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tiny_spec(tmp_path)
    store = run(spec, tmp_path)
    report = tmp_path / "report.md"
    assert "| protonet" in report.read_text()

    def diverged(**kwargs):
        if kwargs["label"] == "protonet":
            raise DivergedError(2, float("nan"), None, None)
        return run_job(**kwargs)

    monkeypatch.setattr(driver, "run_job", diverged)
    with pytest.raises(BenchmarkError, match="1 run\\(s\\) failed"):
        run(spec, tmp_path, overrides={"methods[0].params.temperature": 2.0})
    text = report.read_text()
    assert "FAILED: protonet seed 0 at step 2" in text
    assert "| protonet" not in text  # the previous configuration's row is not shown
    frame = benchmark.results(store, spec="tiny")
    assert set(frame.loc[~frame["current"], "method"]) == {"protonet"}
    assert set(frame.loc[frame["current"], "method"]) == {"random"}


# ---------------------------------------------------------------- committed results


def test_a_spec_reuses_another_benchmarks_finished_jobs_under_its_own_name(
        tmp_path: Path) -> None:
    store = run(tiny_spec(tmp_path), tmp_path)

    def reusing(data: dict) -> None:
        data["name"] = "tiny_more"
        data["reuse"] = ["tiny"]
        data["methods"].append({"label": "protonet2", "method": "protonet", "backbone": "conv4",
                                "sampler": "labels", "ways": 5, "shots": 1, "queries": 1})

    more = tiny_spec(tmp_path, reusing, "more.yaml")
    before = store.read_bytes()
    plan = driver.plan_file(more, store_path=store, device="cpu")  # says so, writes nothing
    assert "tiny_more: 1 of 3 job(s) to run" in plan
    assert "protonet seed 0: done in tiny (the same job" in plan and "protonet2 seed 0: train" in plan
    assert store.read_bytes() == before
    runner.run_file(more, store_path=store, runs_dir=tmp_path / "runs",
                    report_dir=tmp_path / "more", device="cpu")
    assert not (tmp_path / "runs" / "tiny_more" / "protonet").exists()  # not trained again
    assert (tmp_path / "runs" / "tiny_more" / "protonet2").is_dir()
    with Store(store) as opened:
        old, new = opened.results("tiny"), opened.results("tiny_more")
        runs = {r.method: r for r in opened.runs("tiny_more")}
        curves = {(c.benchmark, c.method): c for c in opened.curves()}
    assert {r.method for r in new} == {"random", "protonet", "protonet2"}
    copied = curves[("tiny_more", "protonet")]  # its curve came with it, under its own name
    assert replace(copied, benchmark="tiny", spec_hash="") == replace(
        curves[("tiny", "protonet")], spec_hash="")
    assert copied.spec_hash == runs["protonet"].spec_hash
    mine = {r.key[1:]: r for r in new}
    for row in old:
        assert mine[row.key[1:]].accuracy == row.accuracy
    assert runs["protonet"].status == "done" and "runs/tiny/protonet" in runs["protonet"].checkpoint
    assert "tiny_more" in (tmp_path / "more.md").read_text()
    assert "| protonet2" not in (tmp_path / "report.md").read_text()  # tiny's own tables


def test_a_run_that_is_not_the_files_never_writes_over_its_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tiny_spec(tmp_path)
    store, runs = tmp_path / "store.sqlite", tmp_path / "runs"
    runner.run_file(spec, store_path=store, runs_dir=runs, device="cpu")
    results = tmp_path / "results"
    committed = {name: (results / name).read_bytes()
                 for name in ("tiny.md", "index.html", "results.jsonl.gz")}
    assert b'href="tiny.html"' in committed["index.html"]  # the run refreshed the index
    assert {r.benchmark for r in export.read(results / "results.jsonl.gz")["results"]} == {"tiny"}
    for change in [dict(overrides={"trainer.steps": 3}), dict(only=["protonet"])]:
        runner.run_file(spec, store_path=store, runs_dir=runs, device="cpu", **change)
        assert {name: (results / name).read_bytes() for name in committed} == committed
    reports = sorted((tmp_path / "results" / "experiments").glob("tiny-*.md"))
    assert len(reports) == 2


def test_the_ablation_index_lists_every_report_on_disk(tmp_path: Path) -> None:
    folder = tmp_path / "ablations"
    for name in ["alpha", "beta"]:
        (folder / name).mkdir(parents=True)
        (folder / name / "index.md").write_text(f"# Ablation: {name}\n\n**Question:** why {name}?\n")
    render_indexes(tmp_path)  # no store: read from the reports on disk
    index = (folder / "index.md").read_text()
    assert 'href="ablations/beta/report.html"' in (tmp_path / "index.html").read_text()
    assert "- [alpha](alpha/index.md) ([HTML](alpha/report.html)): why alpha?" in index
    assert "[beta](beta/index.md)" in index and "No ablation" not in index
