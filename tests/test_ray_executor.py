"""The Ray executor on a local Ray started here (``ray.init(num_cpus=2)``): the same store rows
as the local executor; a worker killed mid-job is retried and the run resumes from its
checkpoint; a job whose worker dies twice is recorded as failed; the driver alone writes the
store; bad options are refused before any work.

Ray is a CI dependency (``pip install '.[ray]'``, installed by ``scripts/setup.sh``): these
tests run, they never skip.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
import ray
import yaml

from benchmark import runner
from benchmark.checkpoint import load_checkpoint
from benchmark.errors import BenchmarkError
from benchmark.executors import Job, build_executor
from benchmark.store import Store

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"

KILL_SPEC = {
    "name": "raykill", "device": "cpu", "seeds": [0],
    "train": {"dataset": "omniglot", "split": "background"},
    "trainer": {"steps": 60, "optimizer": "adam", "lr": 0.001, "checkpoint_every": 5},
    "methods": [{"label": "protoclr", "method": "protoclr", "backbone": "conv4",
                 "sampler": "augment", "ways": 8, "shots": 1, "queries": 1}],
    "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
             "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
             "episodes": 4, "queries": 3, "seed": 0},
}
#: The killer waits for a checkpoint at least this far (and before the last step).
KILL_AFTER_STEP = 10


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """A local Ray of 2 CPUs for this module; the executor joins it."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield
    ray.shutdown()


def _run(root: Path, spec: Path, executor: str, **options) -> tuple[Path, Path]:
    store, runs = root / "store.sqlite", root / "runs"
    runner.run_file(spec, store_path=store, runs_dir=runs, report_dir=root / "report",
                    device="cpu", executor=executor, executor_options=options)
    return store, runs


def _rows(store: Path, benchmark: str) -> dict[tuple, tuple]:
    with Store(store) as s:
        return {r.key: (r.accuracy, r.ci95, r.episode_accuracies, r.steps, r.spec_hash,
                        r.device) for r in s.results(benchmark, with_episodes=True)}


def _runs(store: Path, benchmark: str) -> set[tuple]:
    with Store(store) as s:
        return {(r.method, r.seed, r.status, r.steps, r.spec_hash) for r in s.runs(benchmark)}


def test_ray_gives_the_rows_of_the_local_executor(tmp_path: Path, one_thread, caplog) -> None:
    local, _ = _run(tmp_path / "local", TINY, "local")
    caplog.set_level(logging.INFO, logger="benchmark.executors.ray")
    on_ray, runs = _run(tmp_path / "ray", TINY, "ray", workers=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "benchmark.executors.ray"]
    assert lines[0].startswith("ray: 0 job(s) done, 1 running, 2 queued")
    assert lines[-1].startswith("ray: 3 job(s) done, 0 running, 0 queued")
    assert _rows(on_ray, "tiny") == _rows(local, "tiny") and len(_rows(local, "tiny")) == 12
    assert _runs(on_ray, "tiny") == _runs(local, "tiny")
    with Store(on_ray) as store:
        assert store.count("leases") == 0  # every lease given back by the driver
    assert (runs / "tiny" / "protonet" / "seed0" / "last.pt").exists()  # written by the worker


def _task_pids(name: str) -> list[int]:
    """The processes whose title Ray set to ``ray::<name>`` (the worker running that task)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.decode(errors="replace").strip() == f"ray::{name}":
                found.append(int(entry.name))
    return found


def _checkpoint_step(run: Path) -> int:
    path = run / "metrics.csv"
    if not (run / "last.pt").exists() or not path.exists():
        return 0
    with path.open(newline="") as handle:
        steps = [int(r["step"]) for r in csv.DictReader(handle) if (r.get("step") or "").isdigit()]
    return max(steps, default=0)


class Killer(threading.Thread):
    """SIGKILLs the worker running ``task`` each time its run has passed ``KILL_AFTER_STEP``
    (at most ``times`` times), remembering the pids and the metrics rows at each kill."""

    def __init__(self, task: str, run: Path, times: int) -> None:
        super().__init__(daemon=True)
        self.task, self.folder, self.times = task, run, times
        self.killed: list[int] = []
        self.rows_at_kill: list[list[dict]] = []
        self.checkpoint_at_kill: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:  # noqa: D102 (threading.Thread)
        while len(self.killed) < self.times and not self.stop.wait(0.05):
            pids = [p for p in _task_pids(self.task) if p not in self.killed]
            if not pids or _checkpoint_step(self.folder) < KILL_AFTER_STEP + 5 * len(self.killed):
                continue
            os.kill(pids[0], signal.SIGKILL)
            self.killed.append(pids[0])
            self.checkpoint_at_kill.append(int(load_checkpoint(self.folder / "last.pt")["step"]))
            with (self.folder / "metrics.csv").open(newline="") as handle:
                self.rows_at_kill.append(list(csv.DictReader(handle)))


def _kill_spec(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**KILL_SPEC, "name": name}))
    return path


def _with_killer(tmp_path: Path, name: str, times: int,
                 go: Callable[[], object]) -> Killer:
    killer = Killer("benchmark:protoclr/0", tmp_path / "ray" / "runs" / name / "protoclr" / "seed0",
                    times)
    killer.start()
    try:
        go()
    finally:
        killer.stop.set()
        killer.join()
    return killer


def test_a_worker_killed_mid_job_is_retried_and_resumes_from_its_checkpoint(
        tmp_path: Path, one_thread) -> None:
    spec = _kill_spec(tmp_path, "raykill")
    killer = _with_killer(tmp_path, "raykill", 1,
                          lambda: _run(tmp_path / "ray", spec, "ray", workers=2))
    assert len(killer.killed) == 1, "the worker was never killed: the job ran too fast"
    assert not Path(f"/proc/{killer.killed[0]}").exists()
    store = tmp_path / "ray" / "store.sqlite"
    assert {(m, s) for m, _, s, *_ in _runs(store, "raykill")} == {("protoclr", "done")}
    # resumed, not restarted: the rows up to the checkpoint are the killed attempt's, kept as
    # they were (a fresh start would have rewritten them with its own clock) ...
    run = tmp_path / "ray" / "runs" / "raykill" / "protoclr" / "seed0"
    with (run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, KILL_SPEC["trainer"]["steps"] + 1))
    resumed_at = killer.checkpoint_at_kill[0]
    assert 0 < resumed_at < KILL_SPEC["trainer"]["steps"]
    before = {int(r["step"]): r for r in killer.rows_at_kill[0]}
    kept = [r for r in rows if int(r["step"]) <= resumed_at]
    assert len(kept) == resumed_at and all(before[int(r["step"])] == r for r in kept)
    # ... and an exact resume: the rows of an uninterrupted local run
    local, _ = _run(tmp_path / "local", spec, "local")
    assert _rows(store, "raykill") == _rows(local, "raykill")


def test_a_job_whose_worker_dies_twice_is_recorded_as_failed(tmp_path: Path, one_thread) -> None:
    spec = _kill_spec(tmp_path, "raylost")

    def go() -> None:
        with pytest.raises(BenchmarkError, match=r"1 run\(s\) failed .*protoclr seed 0 "
                                                 r"\(lost on Ray \(WorkerCrashedError"):
            _run(tmp_path / "ray", spec, "ray", workers=2)

    killer = _with_killer(tmp_path, "raylost", 2, go)
    assert len(killer.killed) == 2
    with Store(tmp_path / "ray" / "store.sqlite") as store:
        run = store.get_run("raylost", "protoclr", 0)
        assert run.status == "failed" and "WorkerCrashedError" in run.error
        assert {r.method for r in store.results("raylost")} == {"random"}  # the floor went on
        assert store.count("leases") == 0


def _fail() -> None:
    from benchmark.train import DivergedError

    raise DivergedError(7, float("nan"), Path("/runs/x/last.pt"), 5)


def test_a_job_error_comes_back_with_its_step_and_checkpoint_not_retried() -> None:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    executor = build_executor("ray", workers=1)
    (outcome,) = executor.run([Job(("x", 0), _fail)], lambda job: True)
    assert isinstance(outcome.error, BenchmarkError)
    assert "diverged at step 7" in str(outcome.error)
    assert outcome.error.step == 7 and outcome.error.checkpoint == "/runs/x/last.pt"


@pytest.mark.parametrize("options, message", [
    ({"cpus": -1}, "cpus must be >= 0"), ({"workers": 0}, "workers must be >= 1"),
    ({"gpus": float("nan")}, "gpus must be >= 0"), ({"adress": "auto"}, "no option adress"),
])
def test_bad_options_are_refused_before_any_work(tmp_path: Path, options: dict,
                                                 message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        _run(tmp_path, TINY, "ray", **options)
    assert not (tmp_path / "store.sqlite").exists() and not (tmp_path / "runs").exists()
