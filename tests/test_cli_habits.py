"""``benchmark run`` habits: ``--set`` (the ablation paths, one definition), ``--only``,
``--plan`` (writes nothing) and the overall progress line."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from benchmark import cli
from benchmark.spec.file import load_ablation
from benchmark.errors import BenchmarkError
from benchmark.runner.driver import load_run
from benchmark.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


@pytest.fixture(scope="module", autouse=True)
def progress_on_stdout() -> Iterator[None]:
    """The progress lines on stdout, as ``python -m benchmark`` prints them."""
    logger = logging.getLogger("benchmark")
    handlers = list(logger.handlers)
    cli.log_to_stdout()
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)


def ablation(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "abl.yaml"
    path.write_text(yaml.safe_dump({"base": str(TINY), **body}))
    return path


@pytest.mark.parametrize("key, value", [
    ("methods[0].params.temperature", 0.5),
    ("methods[1].sampler_options.augment", {"blur_p": 0.0, "crop_scale": [0.6, 1.0]}),
    ("eval.episodes", 3),
    ("methods[0].trainer.lr", 0.01),
])
def test_set_and_an_ablation_point_give_the_same_spec(tmp_path: Path, key: str, value) -> None:
    point = load_ablation(ablation(tmp_path, {"variants": [{"name": "p", "set": {key: value}}]}))
    from_ablation = [s for s in point.specs if s.name.endswith(".p")][0]
    _, (from_set,) = load_run(TINY, overrides={key: value})
    assert from_set.to_dict() == {**from_ablation.to_dict(), "name": "tiny"}
    assert from_set.name == "tiny" and from_set.origin == str(TINY)


def test_set_refuses_the_paths_an_ablation_refuses_with_the_same_words(tmp_path: Path) -> None:
    key = "methods[0].nope"
    with pytest.raises(BenchmarkError) as by_ablation:
        load_ablation(ablation(tmp_path, {"variants": [{"name": "p", "set": {key: 1}}]}))
    with pytest.raises(BenchmarkError) as by_set:
        load_run(TINY, overrides={key: 1})
    reason = str(by_ablation.value).split(f"{key}: ", 1)[1]
    assert str(by_set.value) == f"{TINY}: --set: {key}: {reason}"


@pytest.mark.parametrize("argument, message", [
    ("methods[0].nope=1", "methods[0] has no key 'nope'"),
    ("methods[5].ways=1", "methods has 2 entries, no [5]"),
    ("seeds", "expected PATH=VALUE"),
    ("eval.episodes=[1", "the value is not YAML"),
    ("eval.episodes=0", "eval.episodes: expected an integer ≥ 2, got 0"),
    ("name=other", "the benchmark's name keeps its rows"),
])
def test_bad_set_is_one_line_and_exit_2_before_any_work(tmp_path: Path, capsys, argument: str,
                                                        message: str) -> None:
    code = cli.main(["run", str(TINY), "--store", str(tmp_path / "s.sqlite"), "--runs-dir",
                     str(tmp_path / "runs"), "--set", argument])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert list(tmp_path.iterdir()) == []


def test_set_values_are_read_as_yaml() -> None:
    _, (spec,) = load_run(TINY, overrides=cli.parse_set(["seeds=[0, 1]", "device=cpu",
                                                         "methods[1].params.temperature=0.2"]))
    assert spec.seeds == (0, 1) and spec.methods[1].params["temperature"] == 0.2


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` → its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", str(TINY), "--store", str(tmp_path / "s.sqlite"), "--runs-dir",
            str(tmp_path / "runs"), "--report-dir", str(tmp_path / "report"), "--device", "cpu",
            "--set", "eval.episodes=2", *extra]


def test_plan_writes_nothing_and_says_what_would_run(tmp_path: Path, capsys) -> None:
    assert cli.main(run_args(tmp_path, "--plan")) == 0
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no store, no run folder, no report
    assert "tiny: 3 of 3 job(s) to run" in out
    assert "protonet seed 0: train 2 steps (~" in out and "evaluate 4 of 4 cells in float32 (~" in out
    assert "random seed 0: evaluate 4 of 4 cells" in out and "Nothing was written." in out

    assert cli.main(run_args(tmp_path, "--only", "protonet")) == 0
    capsys.readouterr()
    before = tree(tmp_path)
    assert cli.main(run_args(tmp_path, "--plan", "--set", "methods[1].params.temperature=0.3")) == 0
    out = capsys.readouterr().out
    assert tree(tmp_path) == before  # the store (and its log) byte for byte, nothing new
    assert "protonet seed 0: done (in the store)" in out
    assert "protoclr seed 0: train 2 steps" in out and "tiny: 2 of 3 job(s) to run" in out


def test_only_runs_the_labels_given_and_the_progress_line_counts_them(tmp_path: Path,
                                                                      capsys) -> None:
    assert cli.main(run_args(tmp_path, "--only", "protoclr", "--only", "random")) == 0
    out = capsys.readouterr().out
    with Store(tmp_path / "s.sqlite") as store:
        assert {r.method for r in store.results("tiny")} == {"protoclr", "random"}
    assert "tiny: 2 job(s) to run, 0 already done, 1 not selected by --only" in out
    assert "tiny: 1/2 jobs done, elapsed " in out and "tiny: 2/2 jobs done, elapsed " in out
    assert "ETA 0s" in out
    assert cli.main(run_args(tmp_path, "--only", "simclr")) == 2
    err = capsys.readouterr().err
    assert "--only simclr: no such label" in err and "labels: random, protonet, protoclr" in err
