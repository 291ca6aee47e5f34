"""Ablation files: the grammar, its expansion into grid points, the floor run once, running
through the runner and store (resumed, killed mid-grid), and every shipped ablation loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmark import export
from benchmark.spec.file import load_ablation
from benchmark.errors import BenchmarkError
from benchmark.runner import driver, preflight, run_file
from benchmark.spec.file import load_specs
from benchmark.store import Store

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"
SHIPPED = sorted((ROOT / "tasks" / "ablations").glob("*.yaml"))


def _ablation(tmp_path: Path, body: str, name: str = "abl.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"base: {TINY}\nname: abl\nquestion: Which temperature?\n"
                    f"methods: [protoclr]\n{body}")
    return path


TEMPERATURES = "sweep:\n  methods[0].params.temperature: [0.1, 0.5]\n"


def test_sweep_points_are_named_and_tagged(tmp_path: Path) -> None:
    plan = load_ablation(_ablation(tmp_path, TEMPERATURES))
    assert plan is not None and plan.name == "abl" and plan.question == "Which temperature?"
    assert [p.point for p in plan.points] == ["temperature-0.1", "temperature-0.5"]
    assert [p.benchmark for p in plan.points] == ["abl.temperature-0.1", "abl.temperature-0.5"]
    assert [p.position for p in plan.points] == [0, 1]
    assert [json.loads(p.swept) for p in plan.points] == [
        {"methods[0].params.temperature": 0.1}, {"methods[0].params.temperature": 0.5}]
    assert [s.name for s in plan.specs] == ["abl", "abl.temperature-0.1", "abl.temperature-0.5"]
    assert plan.specs[1].method("protoclr").params["temperature"] == 0.1


def test_two_paths_cross_in_grid_order(tmp_path: Path) -> None:
    plan = load_ablation(_ablation(tmp_path, "sweep:\n  methods[0].ways: [4, 8]\n"
                                   "  methods[0].params.temperature: [0.1, 0.5]\n"))
    assert [p.point for p in plan.points] == [
        "ways-4_temperature-0.1", "ways-4_temperature-0.5",
        "ways-8_temperature-0.1", "ways-8_temperature-0.5"]
    assert [(s.method("protoclr").ways, s.method("protoclr").params["temperature"])
            for s in plan.specs[1:]] == [(4, 0.1), (4, 0.5), (8, 0.1), (8, 0.5)]


def test_variants_and_shared_overrides(tmp_path: Path) -> None:
    augment = "methods[0].sampler_options.augment"
    plan = load_ablation(_ablation(tmp_path, (
        f"set:\n  trainer.steps: 3\n  {augment}.degrees: 10.0\n"
        "variants:\n"
        "  - {name: all, set: {}}\n"
        f"  - name: no-flip\n    set:\n      {augment}.flip_p: 0.0\n"
        f"  - name: no-crop\n    set:\n      {augment}.crop_scale: [1.0, 1.0]\n")))
    assert [p.point for p in plan.points] == ["all", "no-flip", "no-crop"]
    assert [json.loads(p.swept) for p in plan.points] == [
        {}, {f"{augment}.flip_p": 0.0}, {f"{augment}.crop_scale": [1.0, 1.0]}]
    knobs = [dict(s.method("protoclr").sampler_options["augment"]) for s in plan.specs[1:]]
    assert knobs == [{"degrees": 10.0}, {"degrees": 10.0, "flip_p": 0.0},
                     {"degrees": 10.0, "crop_scale": (1.0, 1.0)}]
    assert all(s.method("protoclr").trainer.steps == 3 for s in plan.specs)


def test_floor_once_when_nothing_swept_changes_it(tmp_path: Path) -> None:
    plan = load_ablation(_ablation(tmp_path, TEMPERATURES))
    floor, *points = plan.specs
    assert floor.name == "abl" and floor.labels == ("random",)
    assert all(s.labels == ("protoclr",) and s.floors == {} for s in points)


@pytest.mark.parametrize("sweep", ["methods[0].backbone: [conv4, resnet12]",
                                   "eval.episodes: [4, 6]", "seeds: [[0], [1]]"])
def test_floor_per_point_when_a_swept_path_changes_it(tmp_path: Path, sweep: str) -> None:
    plan = load_ablation(_ablation(tmp_path, f"sweep:\n  {sweep}\n"))
    assert [s.name for s in plan.specs] == [p.benchmark for p in plan.points]
    assert all(s.labels == ("random", "protoclr") for s in plan.specs)


@pytest.mark.parametrize("body, words", [
    ("sweep:\n  methods[0].paramz.x: [1, 2]\n", ("sweep", "methods[0] has no key 'paramz'")),
    ("sweep:\n  trainer.stepz: [1, 2]\n", ("trainer has no key 'stepz'",)),
    ("sweep:\n  methods[1].ways: [4, 8]\n", ("methods has 1 entries, no [1]",)),
    ("sweep:\n  methods[0].ways.x: [4, 8]\n", ("single value",)),
    ("sweep:\n  methods[0].ways: []\n", ("sweep.methods[0].ways", "non-empty list")),
    ("sweep:\n  methods[0].ways: [4, many]\n", ("point ways-many", "methods[0].ways",
                                                "expected an integer")),
    ("sweep: {}\n", ("sweep", "one or 2 paths")),
    ("sweep:\n  methods[0].ways: [4]\n  methods[0].shots: [1]\n  methods[0].queries: [1]\n",
     ("one or 2 paths", "got 3")),
    ("variants:\n  - {name: a, set: {}}\n  - name: a\n    set:\n      methods[0].ways: 4\n",
     ("variants[1].name", "used twice")),
    ("variants:\n  - {set: {}}\n", ("variants[0].name", "required")),
    ("variants:\n  - {name: a}\n", ("variants[0].set", "required")),
    ("variants:\n  - {name: 'a b', set: {}}\n", ("variants[0].name", "plain folder name")),
    ("variants:\n  - name: a\n    set:\n      methods[0].wayz: 4\n", ("variants[0].set", "wayz")),
    (TEMPERATURES + "variants:\n  - {name: a, set: {}}\n", ("either 'sweep' or 'variants'",)),
    ("description: x\n", ("either 'sweep' or 'variants'",)),
    ("set:\n  eval.episodez: 3\n" + TEMPERATURES, ("set", "episodez")),
    ("sweep:\n  methods[0].ways: [" + ", ".join(map(str, range(4, 69))) + "]\n",
     ("65 grid points", "more than 64", "--yes")),
])
def test_bad_ablations_are_one_line(tmp_path: Path, body: str, words: tuple[str, ...]) -> None:
    with pytest.raises(BenchmarkError) as err:
        load_ablation(_ablation(tmp_path, body))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "abl.yaml") in message
    for word in words:
        assert word in message, message


def test_yes_allows_a_large_grid(tmp_path: Path) -> None:
    path = _ablation(tmp_path, "sweep:\n  eval.seed: [" + ", ".join(map(str, range(65))) + "]\n")
    with pytest.raises(BenchmarkError, match="65 grid points"):
        load_ablation(path)
    assert len(load_ablation(path, max_points=None).points) == 65


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_ablations_load_and_preflight(path: Path) -> None:
    plan = load_ablation(path)
    assert plan is not None and plan.question and plan.points
    assert path.read_text().lstrip().startswith("#") and "?" in plan.question
    for spec in load_specs(path):
        preflight(spec, None)


# ---------------------------------------------------------------- running

def _run(path: Path, root: Path, **kwargs: Any) -> None:
    run_file(path, store_path=root / "store.sqlite", runs_dir=root / "runs",
             report_dir=root / "report", **kwargs)


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (benchmark, label) of every job the runner runs."""
    ran: list[tuple[str, str]] = []
    real = driver.run_job

    def counted(**kwargs: Any) -> Any:
        ran.append((kwargs["spec"].name, kwargs["label"]))
        return real(**kwargs)

    monkeypatch.setattr(driver, "run_job", counted)
    return ran


def test_ablation_runs_floor_once_then_resumes(tmp_path: Path, jobs: list) -> None:
    path = _ablation(tmp_path, TEMPERATURES)
    _run(path, tmp_path)
    assert jobs == [("abl", "random"), ("abl.temperature-0.1", "protoclr"),
                    ("abl.temperature-0.5", "protoclr")]
    page = (tmp_path / "report" / "index.md").read_text()
    assert "temperature" in page and (tmp_path / "report" / "report.html").is_file()
    with Store(tmp_path / "store.sqlite") as store:
        assert [p.point for p in store.ablation_points("abl")] == ["temperature-0.1",
                                                                  "temperature-0.5"]
        assert {r.method for r in store.results("abl")} == {"random"}
        for point in ("abl.temperature-0.1", "abl.temperature-0.5"):
            assert {r.method for r in store.results(point)} == {"protoclr"}
    jobs.clear()
    _run(path, tmp_path)
    assert jobs == [] and (tmp_path / "report" / "index.md").read_text() == page


def _kill_after(monkeypatch: pytest.MonkeyPatch, outcomes: int) -> None:
    """Interrupt the run (Ctrl-C) once ``outcomes`` jobs' rows are stored."""
    real = driver._record
    seen = []

    def record(*args: Any, **kwargs: Any) -> Any:
        failure = real(*args, **kwargs)
        seen.append(1)
        if len(seen) == outcomes:
            raise KeyboardInterrupt
        return failure

    monkeypatch.setattr(driver, "_record", record)


def test_killed_ablation_finishes_without_redoing_runs(tmp_path: Path, jobs: list,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ablation(tmp_path, TEMPERATURES)
    with monkeypatch.context() as killed:
        _kill_after(killed, 2)  # the floor and the first point are stored
        with pytest.raises(KeyboardInterrupt):
            _run(path, tmp_path)
    with Store(tmp_path / "store.sqlite") as store:
        assert len(store.ablation_points("abl")) == 2  # written before the runs
        assert set(store.benchmarks()) == {"abl", "abl.temperature-0.1"}
    jobs.clear()
    _run(path, tmp_path)
    assert jobs == [("abl.temperature-0.5", "protoclr")]
    assert (tmp_path / "report" / "index.md").is_file()


def test_killed_ablation_report_equals_an_uninterrupted_one(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ablation(tmp_path, TEMPERATURES)
    (tmp_path / "whole").mkdir()
    (tmp_path / "killed").mkdir()
    _run(path, tmp_path / "whole")
    with monkeypatch.context() as killed:
        _kill_after(killed, 2)
        with pytest.raises(KeyboardInterrupt):
            _run(path, tmp_path / "killed")
    _run(path, tmp_path / "killed")
    markdown = {}
    for run in ("whole", "killed"):
        with Store(tmp_path / run / "store.sqlite") as store:
            report = driver.report_ablation(store, "abl", tmp_path / run / "report", None)
        markdown[run] = report.markdown.replace(str(tmp_path / run), "<root>")
    assert markdown["killed"] == markdown["whole"]


def test_an_ablation_reported_to_its_default_place_refreshes_the_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ablation(tmp_path, TEMPERATURES)
    monkeypatch.chdir(tmp_path)
    run_file(path, store_path=tmp_path / "store.sqlite", runs_dir=tmp_path / "runs")
    assert (tmp_path / "results" / "ablations" / "abl" / "report.html").is_file()
    index = (tmp_path / "results" / "ablations" / "index.md").read_text()
    assert "[abl](abl/index.md)" in index and "Which temperature?" in index
    page = (tmp_path / "results" / "index.html").read_text()  # the one index of everything
    assert 'href="ablations/abl/report.html"' in page and "Which temperature?" in page
    found = export.read(tmp_path / "results" / export.FILE_NAME)  # and the export
    assert {p.ablation for p in found["ablation_points"]} == {"abl"} and found["results"]


def test_plain_spec_still_runs_as_before(tmp_path: Path, jobs: list) -> None:
    _run(TINY, tmp_path)
    assert [label for _, label in jobs] == ["random", "protonet", "protoclr"]
    assert (tmp_path / "report").is_dir()
    with Store(tmp_path / "store.sqlite") as store:
        assert store.benchmarks() == ["tiny"] and store.ablations() == []
