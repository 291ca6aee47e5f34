"""One job: train one method for one seed (or build the random-init floor) and evaluate it
(with ``trainer.marks``: evaluate the checkpoint of each mark, one row per cell and mark).

``run_job`` is a plain function of its arguments, so any executor can run it anywhere: it
resolves the device it is given where it runs, writes only its run folder
(``runs_dir/<benchmark>/<label>/seed<k>``) and hands back its rows and run record; the driver
writes them to the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from benchmark import distributed, provenance
from benchmark import train as training
from benchmark.checkpoint import load_checkpoint
from benchmark.data import Split, load_split
from benchmark.data.convert import InputConversion, convert_for
from benchmark.device import resolve_device
from benchmark.errors import BenchmarkError
from benchmark.spec.plain import writable
from benchmark.evaluation import evaluate, fixed_episodes, random_floor, validator
from benchmark.methods import METHODS, ModelSpec, build_method
from benchmark.methods.base import Method, check_across_ranks
from benchmark.runner.cells import Cell, by_episodes, cells_of
from benchmark.runner.reuse import claim_folder, continued_steps, job_fingerprint
from benchmark.samplers import Sampler, build_sampler, supervision_of
from benchmark.spec.benchmark_spec import BenchmarkSpec, MethodSpec
from benchmark.report.curves import log_curve
from benchmark.store import ResultRow, RunRecord, ValidationCurve
from benchmark.train.marks import mark_path


@dataclass(frozen=True)
class JobResult:
    """What ``run_job`` hands back: the result rows, the training run's record and its
    validation curve (None for what did not train or kept no log)."""

    rows: tuple[ResultRow, ...]
    run: RunRecord | None
    curve: ValidationCurve | None = None


def run_dir(runs_dir: Path, spec: BenchmarkSpec, label: str, seed: int) -> Path:
    """Where one training run keeps its checkpoints and metrics."""
    return Path(runs_dir) / spec.name / label / f"seed{seed}"


def build_train_sampler(method: MethodSpec, split: Split,
                        device: str = "cpu") -> Sampler:
    """The sampler of ``method``'s training episodes over ``split``: under torchrun, this
    rank's share of them (``distributed.shard``: ``ways / world`` images or classes)."""
    ways = method.ways
    if distributed.is_distributed():
        check_across_ranks(METHODS.get(method.method))
        ways = distributed.shard(method.ways, "ways")
    return build_sampler(method.sampler, split, ways, method.shots, method.queries,
                         device=device, **writable(method.sampler_options))


def build_model(method: MethodSpec, image_shape: tuple[int, int, int],
                seed: int) -> Method:
    """``method``'s model, initialised from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_method(method.method, method.backbone, image_shape,
                            **writable(method.params))


def _trained_model(spec: BenchmarkSpec, method: MethodSpec, seed: int, device: str,
                   runs_dir: Path, data_root: Path | None) -> tuple[Method, RunRecord]:
    """Train (or resume, or reload a finished run of) one method for one seed on ``device``
    (resolved); a method that does not train (``Method.trains``) is built and recorded with 0
    steps."""
    split = load_split(spec.train.dataset, spec.train_split_of(method.label), data_root)
    model = build_model(method, split.image_shape, seed)
    if not METHODS.get(method.method).trains:
        return model, RunRecord(
            benchmark=spec.name, method=method.label, seed=seed, status="done",
            spec_hash=spec.job_hash(method.label), steps=0, wall_seconds=0.0, checkpoint="",
            device=device, commit=provenance.commit())
    sampler = build_train_sampler(method, split, device)
    validate = None
    if spec.train.val_split is not None:
        val = load_split(spec.train.dataset, spec.train.val_split, data_root)
        setting = spec.eval.settings[0]
        episodes = fixed_episodes(val, setting.ways, setting.shots, spec.eval.queries,
                                  method.trainer.val_episodes, spec.eval.seed, device)
        validate = validator(episodes, (method.heads or spec.eval.heads)[0],
                             spec.eval_precision(method.label))
    folder = run_dir(runs_dir, spec, method.label, seed)
    trained_on = job_fingerprint(spec.job_hash(method.label), split.name, split.fingerprint)
    if distributed.rank() == 0:  # the writer of the folder
        claim_folder(folder, trained_on, f"{spec.name}: {method.label} seed {seed}",
                     lambda payload: continued_steps(payload, spec, method.label))
    model_spec = ModelSpec(method.method, method.backbone, split.image_shape,
                           writable(method.params))
    result = training.train(
        model, sampler, method.train_config(seed, device), folder, validate,
        model_spec=model_spec,
        spec={"benchmark": spec.name, **trained_on,
              "method": spec.to_dict()["methods"][spec.methods.index(method)]})
    if result.best_checkpoint is not None and Path(result.best_checkpoint).exists():
        model.load_state_dict(load_checkpoint(Path(result.best_checkpoint),
                                              map_location=device)["model"])
    run = RunRecord(
        benchmark=spec.name, method=method.label, seed=seed, status="done",
        spec_hash=spec.job_hash(method.label), steps=result.steps,
        wall_seconds=result.run_seconds, checkpoint=str(result.best_checkpoint or
                                                    result.last_checkpoint),
        device=device, commit=provenance.commit(), precision=result.precision,
    )
    return model, run


def run_job(spec: BenchmarkSpec, label: str, seed: int, *, runs_dir: Path,
            data_root: Path | None = None, device: str = "cpu",
            cells: Sequence[Cell] | None = None) -> JobResult:
    """Train ``label`` (or build the floor) for ``seed`` and evaluate it on ``cells``
    (default: every cell of the label), on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``)
    as resolved where the job runs; its rows and run record carry that device.

    Raises:
        BenchmarkError: bad data or settings; ``benchmark.train.DivergedError`` (a
            BenchmarkError with ``.step``) when the loss becomes NaN or infinite. Any
            exception raised once the device is resolved carries it as ``.device``.
    """
    used = str(resolve_device(device))
    try:
        return _evaluated(spec, label, seed, runs_dir, data_root, used,
                          list(cells_of(spec, label) if cells is None else cells))
    except Exception as err:
        err.device = used  # type: ignore[attr-defined]  (for the driver's failure record)
        raise


def _evaluated(spec: BenchmarkSpec, label: str, seed: int, runs_dir: Path,
               data_root: Path | None, device: str, cells: list[Cell]) -> JobResult:
    """``run_job`` on a resolved ``device``."""
    train_split = load_split(spec.train.dataset, spec.train_split_of(label), data_root)
    started = time.perf_counter()
    floors = spec.floors
    if label in floors:
        model, run = random_floor(floors[label], train_split.image_shape, seed), None
        method_name, backbone, steps, train_seconds = "random", floors[label], 0, 0.0
        supervision = variant = ""
        curve = None
    else:
        method = spec.method(label)
        model, run = _trained_model(spec, method, seed, device, runs_dir, data_root)
        logged = log_curve(run)
        curve = None if isinstance(logged, str) else logged
        method_name, backbone, steps = method.method, method.backbone, run.steps
        supervision = supervision_of(method.sampler) if METHODS.get(method.method).trains else ""
        variant = model.variant
        train_seconds = time.perf_counter() - started
    model = model.to(device)
    common = dict(
        benchmark=spec.name, method=label, train_dataset=spec.train.dataset,
        train_split=spec.train_split_of(label), queries=spec.eval.queries, seed=seed,
        eval_seed=spec.eval.seed, steps=steps,
        train_seconds=train_seconds, device=device, commit=provenance.commit(),
        versions=provenance.library_versions(), spec_hash=spec.job_hash(label),
        train_fingerprint=train_split.fingerprint, method_name=method_name, backbone=backbone,
        supervision=supervision, variant=variant,
    )
    rows = []
    weights = MarkWeights(model, run_dir(runs_dir, spec, label, seed), steps, train_seconds)
    converted: dict[tuple[str, str, InputConversion], tuple[Split, str]] = {}
    for key, group in by_episodes(cells).items():
        dataset, split_name, convert, rotations, ways, shots = key
        split, done = load_split(dataset, split_name, data_root), ""
        if convert is not None:
            source = (dataset, split_name, convert)
            if source not in converted:  # once per split, for all its settings
                converted[source] = convert_for(split, convert, train_split.image_shape)
            split, done = converted[source]
        episodes = fixed_episodes(split, ways, shots, spec.eval.queries, spec.eval.episodes,
                                  spec.eval.seed, device, rotations=rotations)
        for cell in sorted(group, key=lambda c: c.mark):
            head = cell.head
            mark_steps, mark_seconds = weights.load(cell.mark)
            began = time.perf_counter()
            result = evaluate(model, episodes.first(spec.eval.episodes_for(head)), head,
                              progress=None, precision=spec.eval_precision(label))
            rows.append(ResultRow(
                **{**common, "steps": mark_steps, "train_seconds": mark_seconds},
                mark=cell.mark, episodes=result.episodes, eval_dataset=dataset,
                eval_split=cell.split_name, ways=ways, shots=shots,
                head=head, accuracy=float(result.mean), ci95=float(result.ci95),
                eval_seconds=time.perf_counter() - began, eval_fingerprint=split.fingerprint,
                input_conversion=done, eval_precision=result.precision,
                episode_accuracies=tuple(float(a) for a in result.accuracies),
            ))
    return JobResult(tuple(rows), run, curve)


class MarkWeights:
    """Puts the weights of a mark into ``model``: those of the run's ``mark_<m>.pt`` (read
    once), or for mark 0 the weights the model has now (the run's final or best)."""

    def __init__(self, model: torch.nn.Module, folder: Path, steps: int,
                 train_seconds: float) -> None:
        self.model, self.folder = model, folder
        self.states = {0.0: ({k: v.clone() for k, v in model.state_dict().items()},
                             steps, train_seconds)}
        self.current = 0.0

    def load(self, mark: float) -> tuple[int, float]:
        """Load ``mark``'s weights; returns the checkpoint's step and training CPU seconds
        (mark 0: the run's steps and training wall seconds)."""
        if mark not in self.states:
            path = mark_path(self.folder, mark)
            if not path.is_file():
                raise BenchmarkError(f"no checkpoint of mark {mark:g} CPU-min ({path}): the "
                                     "run did not reach it")
            payload = load_checkpoint(path, map_location=next(self.model.parameters()).device)
            self.states[mark] = (payload["model"], int(payload["step"]),
                                 float(payload["cpu_seconds"]))
        state, steps, seconds = self.states[mark]
        if mark != self.current:
            self.model.load_state_dict(state)
            self.current = mark
        return steps, seconds
