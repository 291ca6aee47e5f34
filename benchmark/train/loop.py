"""The one training loop for every method.

``train(method, sampler, config, run_dir)`` draws the ``config.meta_batch`` episodes of
``step`` from the seeds ``episode_seed(config.seed, step * meta_batch + i)`` (``step_seeds``), so
a resumed run sees the very episodes an uninterrupted one would. It logs every step to ``run_dir/metrics.csv`` (and TensorBoard when installed),
validates every ``val_every`` steps through the ``validate`` callable, keeps ``best.pt`` and
``last.pt`` (written atomically), and resumes from ``last.pt`` when it matches the config (a
checkpoint of a smaller or larger STEP COUNT too, where nothing the training does reads the
budget: ``benchmark.train.budget``). It drives the method's lifecycle (``Method.trainable_parameters``, ``Method.after_step``).

With ``config.marks`` (CPU-minutes, ``benchmark.train.marks``) the run keeps ``mark_<m>.pt``
the first step its training CPU clock reaches each mark and stops at the last one; ``steps``
stays the cap and the schedule's length. Every checkpoint stores the CPU clock
(``cpu_seconds``), so a resumed run, or a finished one given later marks, continues it.

The ``seconds`` column is the run's training wall-clock (validation and checkpoints included)
since its first step, over all sittings: each checkpoint stores the clock, and a resumed run
continues it from there (a checkpoint written before the clock was stored resumes it from 0).

Under ``torchrun`` (``benchmark.distributed``) the same call trains with
DistributedDataParallel: every rank runs it on its own device (``cuda:LOCAL_RANK`` on CUDA,
with SyncBatchNorm; the CPU on gloo, where BatchNorm statistics stay per rank), draws its own
episodes (``episode_seed(seed, step, rank)``) and logs the ranks' mean metrics; only rank 0
validates and writes ``metrics.csv`` and the checkpoints. Every rank resumes from the same
``last.pt``, whatever world size wrote it. Only methods whose loss spans the ranks
(``Method.across_ranks``: the SimCLR family) train this way.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from benchmark.atomic import sweep_temporary
from benchmark.bars import progress_bar

from benchmark import distributed
from benchmark.backbones import place_model
from benchmark.checkpoint import (
    load_checkpoint,
    model_spec_of,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from benchmark.device import resolve_device
from benchmark.episodes.episode import Episode, EpisodeSampler, TaskShape
from benchmark.errors import BenchmarkError
from benchmark.interrupt import safe_points, stop_point
from benchmark.methods import METHODS, ModelSpec
from benchmark.methods.base import Method
from benchmark.precision import autocast, choose, step_probe
from benchmark.spec.schema import resumable_fields
from benchmark.train.budget import why_not_continued
from benchmark.train.config import TrainConfig
from benchmark.train.marks import CpuClock, CpuTimer, Marks, mark_path
from benchmark.train.metrics_log import MetricsLog
from benchmark.train.optim import build_optimizer, build_scheduler

Validator = Callable[[torch.nn.Module], float]

#: Config fields that may change between a run and its resumption (``setting(resumable=True)``).
RESUMABLE = resumable_fields(TrainConfig)


class DivergedError(BenchmarkError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint is kept."""

    def __init__(self, step: int, loss: float, checkpoint: Path | None, checkpoint_step: int | None):
        kept = f"last good checkpoint: {checkpoint} (step {checkpoint_step})" if checkpoint else (
            "no checkpoint was written"
        )
        super().__init__(f"training diverged at step {step}: loss is {loss}; {kept}")
        self.step = step
        self.checkpoint = checkpoint
        self.checkpoint_step = checkpoint_step


@dataclass(frozen=True)
class TrainResult:
    """What a finished ``train`` call reports.

    Attributes:
        steps: completed steps (config.steps, or fewer when the last mark came first).
        resumed_from: the step the run resumed at (0 for a fresh run).
        final_loss, final_acc: metrics of the last step run in this call (nan if none ran).
        best_val_acc, best_step: best validation accuracy and its step (None without validation).
        last_checkpoint, best_checkpoint: paths (best is None without validation).
        seconds: wall time of this call.
        run_seconds: the run's training wall-clock over all its sittings, as its last
            checkpoint holds it (validation and checkpoints included; a call that resumes a
            finished run and trains no step leaves it as it was).
        device: the device trained on.
        cpu_seconds: the run's training CPU seconds (all sittings, validation left out).
        precision: the precision the steps ran in (``trainer.precision`` resolved: ``auto``
            chosen on this device, float16 for ``amp``).
    """

    steps: int
    resumed_from: int
    final_loss: float
    final_acc: float
    best_val_acc: float | None
    best_step: int | None
    last_checkpoint: Path
    best_checkpoint: Path | None
    seconds: float
    device: str
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0
    precision: str = "float32"


# --------------------------------------------------------------------------- seeds


def episode_seed(seed: int, step: int, rank: int = 0) -> int:
    """The episode seed of 0-based ``step`` in a run seeded ``seed`` (a 31-bit int); under
    torchrun, ``rank`` > 0 draws its own (rank 0's are a one-process run's)."""
    entropy = [seed, step] if rank == 0 else [seed, step, rank]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] & 0x7FFFFFFF)


def step_seeds(seed: int, step: int, meta_batch: int, rank: int = 0) -> list[int]:
    """The episode seeds of 0-based ``step`` with ``meta_batch`` episodes a step:
    ``episode_seed(seed, step * meta_batch + i)`` (one episode a step: ``episode_seed(seed,
    step)``)."""
    return [episode_seed(seed, step * meta_batch + i, rank) for i in range(meta_batch)]


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# --------------------------------------------------------------------------- one step


class TrainStep:
    """One optimisation step: forward (of a meta-batch), finite-loss check, backward, optimiser
    and LR step.

    Args:
        method: the Method (``forward_batch(episodes) -> {"loss", "acc", ...}``), placed by
            ``place`` (under torchrun, its DistributedDataParallel wrapper, ``_parallel``).
        optimizer, scheduler: as built by ``build_optimizer`` / ``build_scheduler``.
        device: where episodes are moved.
        amp: autocast float16 + GradScaler (only on CUDA).
        precision: a resolved ``benchmark.precision`` precision (not ``auto``); float16 is ``amp``.
    """

    def __init__(
        self,
        method: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        device: torch.device,
        amp: bool = False,
        precision: str = "float32",
    ) -> None:
        self.method = method
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.device = device
        self.amp = (amp or precision == "float16") and device.type == "cuda"
        self.precision = "float16" if self.amp else precision
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def __call__(self, episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
        """Run the step on the meta-batch ``episodes``; returns the method's outputs (detached).
        A non-finite loss (on any rank) raises ``FloatingPointError`` before any weight
        changes."""
        episodes = [episode.to(self.device) for episode in episodes]
        with autocast(self.precision, self.device):
            if isinstance(self.method, DistributedDataParallel):
                out = self.method(episodes)  # through the wrapper: its gradient hooks
            else:
                out = self.method.forward_batch(episodes)
        loss = out["loss"]
        checked = distributed.mean_over_ranks(loss.detach())  # every rank stops together
        if not bool(torch.isfinite(checked)):
            raise FloatingPointError(float(checked))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.items()}


def place(method: torch.nn.Module, config: TrainConfig) -> torch.device:
    """Move ``method`` to the configured device (this rank's, ``distributed.rank_device``),
    in channels-last unless ``config.channels_last`` is off or the method's steps are faster
    without it (``Method.channels_last``; ``backbones.place_model``); returns the device."""
    device = distributed.rank_device(resolve_device(config.device))
    place_model(method, device, config.channels_last and getattr(method, "channels_last", True))
    return device


# --------------------------------------------------------------------------- the run log


class RunLog:
    """What a run shows and keeps of its steps: ``metrics.csv`` (``MetricsLog``), TensorBoard
    when installed and enabled, and the tqdm bar (with marks, the CPU-minutes so far on
    ``cpu`` against the last mark); only the lead rank writes (``lead``)."""

    def __init__(self, run_dir: Path, config: TrainConfig, start: int, lead: bool,
                 cpu: CpuClock | None = None, note: str = "") -> None:
        self.config, self.cpu = config, cpu
        self.csv = MetricsLog(run_dir / "metrics.csv", start) if lead else None
        self.board = _tensorboard(run_dir, config.tensorboard and lead, start)
        total = None if config.marks else config.steps  # marks: it stops at the last mark
        self.bar = progress_bar(total, start, "train", config.progress if lead else False,
                                note=note)

    def write(self, row: Mapping[str, Any]) -> None:
        """One step's row: to the CSV, TensorBoard, and (every ``log_every`` steps and at the
        end) flushed, with the bar's loss and accuracy."""
        done = row["step"]
        if self.csv is not None:
            self.csv.write(row)
        if self.board is not None:
            for key, value in row.items():
                if key not in ("step", "seed", "seconds") and value is not None:
                    self.board.add_scalar(f"train/{key}", value, done)
        if self.csv is not None and (done % self.config.log_every == 0 or done == self.config.steps):
            self.csv.flush()
            budget = ({"cpu": f"{self.cpu.minutes():.2f}/{self.config.marks[-1]:g}min"}
                      if self.config.marks and self.cpu is not None else {})
            self.bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row.get('acc', float('nan')):.3f}",
                                 refresh=False, **budget)

    def flush(self) -> None:
        """The CSV on disk up to the last row (before a checkpoint names that step)."""
        if self.csv is not None:
            self.csv.flush()

    def close(self) -> None:
        self.bar.close()
        if self.csv is not None:
            self.csv.close()
        if self.board is not None:
            self.board.close()


def _tensorboard(run_dir: Path, enabled: bool, start: int) -> Any:
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start or None)


# --------------------------------------------------------------------------- checkpoints and resume


@dataclass
class Progress:
    """Where a run stands: completed steps, the best validation so far, the training clock
    (wall) and CPU clock (``cpu``, continued from ``cpu_offset``)."""

    start: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"val_acc": None, "step": None})
    clock_offset: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    cpu_offset: float = 0.0
    cpu: CpuClock = field(default_factory=CpuClock)
    saved_clock: float = 0.0  # the clock ``last.pt`` holds (its latest write, or as resumed)

    def clock(self) -> float:
        """The run's training seconds so far, over all its sittings."""
        return self.clock_offset + time.perf_counter() - self.started


class Checkpoints:
    """``last.pt`` and ``best.pt`` of a run: written atomically, by the lead rank only, with
    everything exact resume needs (weights, optimiser, schedule, scaler, RNG, best, clock)."""

    def __init__(self, run_dir: Path, lead: bool, model_spec: ModelSpec, config: TrainConfig,
                 spec: Mapping[str, Any] | None) -> None:
        self.last, self.best = run_dir / "last.pt", run_dir / "best.pt"
        self.lead, self.model_spec, self.config, self.spec = lead, model_spec, config, spec
        if lead:
            run_dir.mkdir(parents=True, exist_ok=True)
            sweep_temporary(run_dir)  # temporary files of a write killed half-way

    def resume(self, method: Method, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device,
               validates: bool = False) -> tuple[Progress, Mapping[str, Any] | None]:
        """The run's progress: from ``last.pt`` when there is one (it must match the config
        and model, but for a STEP COUNT it may go on from, ``benchmark.train.budget``, given
        whether the run ``validates``; weights, optimiser, schedule and RNG are restored),
        else a fresh start with every generator seeded. Returns it and the checkpoint read
        (None when fresh)."""
        progress = Progress()
        if not self.last.exists():
            seed_everything(self.config.seed)
            return progress, None
        payload = load_checkpoint(self.last, map_location=device)
        _check_resumable(payload, self.config, self.model_spec, self.last, validates)
        method.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        set_rng_state(payload["rng"])
        progress.start, progress.best = int(payload["step"]), dict(payload["best"])
        progress.clock_offset = progress.saved_clock = float(payload.get("seconds", 0.0))
        progress.cpu_offset = float(payload.get("cpu_seconds", 0.0))
        return progress, payload

    def save(self, path: Path, step: int, stepper: TrainStep, method: Method,
             progress: Progress, mark: float | None = None) -> None:
        """Write ``path`` (``last``, ``best`` or the checkpoint of ``mark`` CPU-minutes) at
        ``step`` (the lead rank only)."""
        if not self.lead:
            return
        clock = progress.clock()
        save_checkpoint(path, {
            **({} if mark is None else {"mark": mark}),
            "model_spec": self.model_spec.to_dict(),
            "model": method.state_dict(),
            "optimizer": stepper.optimizer.state_dict(),
            "scheduler": stepper.scheduler.state_dict(),
            "scaler": stepper.scaler.state_dict(),
            "step": step,
            "rng": rng_state(),
            "config": self.config.to_dict(),
            "spec": dict(self.spec or {}),
            "best": dict(progress.best),
            "seconds": clock,
            "cpu_seconds": progress.cpu.seconds(),
        })
        if path == self.last:
            progress.saved_clock = clock


# --------------------------------------------------------------------------- validation


def _validates(config: TrainConfig, done: int, last: bool) -> bool:
    """Whether step ``done`` validates: every ``val_every`` steps and at the ``last`` step."""
    return last or bool(config.val_every and done % config.val_every == 0)


def _validate_and_keep_best(validate: Validator, method: Method, device: torch.device,
                            done: int, progress: Progress, checkpoints: Checkpoints,
                            stepper: TrainStep) -> float:
    """Step ``done``'s validation accuracy (off the CPU clock); a new best is recorded and
    written as ``best.pt``."""
    with progress.cpu.paused():
        accuracy = _validate(validate, method, device)
    if progress.best["val_acc"] is None or accuracy > progress.best["val_acc"]:
        progress.best = {"val_acc": accuracy, "step": done}
        checkpoints.save(checkpoints.best, done, stepper, method, progress)
    return accuracy


# --------------------------------------------------------------------------- the loop


def train(
    method: Method,
    sampler: EpisodeSampler,
    config: TrainConfig,
    run_dir: Path,
    validate: Validator | None = None,
    *,
    model_spec: ModelSpec | None = None,
    spec: Mapping[str, Any] | None = None,
    cpu_timer: CpuTimer | None = None,
) -> TrainResult:
    """Train ``method`` on episodes from ``sampler`` for ``config.steps`` steps, or until its
    last mark (``config.marks``, training CPU-minutes; ``benchmark.train.marks``).

    Args:
        method: trained in place (its final weights are the run's last weights); the optimiser
            owns its ``trainable_parameters()``, every step runs ``forward_batch`` on
            ``config.meta_batch`` episodes, and ``after_step(step, config.steps)`` runs after
            every step.
        sampler: draws the training episodes (``step_seeds``).
        config: optimiser, schedule, budget, logging and device settings.
        run_dir: where ``metrics.csv``, ``last.pt`` and ``best.pt`` live. An existing
            ``last.pt`` of the same config and model is resumed from.
        validate: returns a validation accuracy for the method; called every
            ``config.val_every`` steps and at the end; the best one is kept as ``best.pt``.
        model_spec: how to rebuild the method (default: ``method.model_spec``).
        spec: the caller's spec dict, stored in every checkpoint.
        cpu_timer: the CPU clock in seconds the marks are read on (default
            ``time.process_time``; tests inject a fake).

    Raises:
        BenchmarkError: the method cannot use the sampler's episodes, ``last.pt`` belongs to
            another config or model, marks under torchrun, a mark added before the resumed
            checkpoint's clock, or ``config.steps`` reached before the last mark.
        DivergedError: a NaN or infinite loss (the last good checkpoint is kept).
    """
    started = time.perf_counter()
    model_spec = model_spec or model_spec_of(method)
    if model_spec is None:
        raise ValueError("train needs a model_spec (or method.model_spec) to write checkpoints")
    method.check(TaskShape(sampler.kind, sampler.offers, sampler.ways, sampler.shots,
                           sampler.queries))
    if config.marks and distributed.is_distributed():
        raise BenchmarkError("trainer.marks are one process's CPU time: not under torchrun")
    lead = distributed.rank() == 0  # validates and writes; every rank when not distributed
    device = place(method, config)
    run_dir = Path(run_dir)
    checkpoints = Checkpoints(run_dir, lead, model_spec, config, spec)
    optimizer = build_optimizer(method, config)
    scheduler = build_scheduler(optimizer, config)
    progress, payload = checkpoints.resume(method, optimizer, scheduler, device,
                                           validates=validate is not None)
    progress.started = started
    progress.cpu = CpuClock(progress.cpu_offset, cpu_timer)
    marks = Marks(config.marks, run_dir, progress.cpu_offset / 60.0)
    start = progress.start
    _same_start(start, run_dir, device)  # every rank has decided before rank 0 writes
    chosen = choose(config.precision, device, step_probe(method, sampler, device))
    stepper = TrainStep(_parallel(method, device), optimizer, scheduler, device, config.amp,
                        chosen.precision)
    if payload is None:
        checkpoints.save(checkpoints.last, 0, stepper, method, progress)
    elif stepper.scaler.is_enabled() and payload.get("scaler"):
        stepper.scaler.load_state_dict(payload["scaler"])
    saved_step = start

    chose_paths = method.resolve_auto(
        lambda: [e.to(device) for e in draw_step(sampler, step_seeds(
            config.seed, start, config.meta_batch, distributed.rank()))], chosen.precision)
    notes = [f"in {stepper.precision} ({chosen.reason})" if config.precision == "auto" else "",
             chose_paths]
    log = RunLog(run_dir, config, start, lead, progress.cpu,
                 note="; ".join(note for note in notes if note))
    row: dict[str, Any] = {}
    method.train()
    try:
        with safe_points():
            for step in range(start, config.steps):
                stop_point()  # SIGTERM / SIGINT land between two steps
                if marks.finished:
                    break
                seeds = step_seeds(config.seed, step, config.meta_batch, distributed.rank())
                lr = optimizer.param_groups[0]["lr"]
                try:
                    out = stepper(draw_step(sampler, seeds))
                except FloatingPointError as err:
                    raise DivergedError(step + 1, float(err.args[0]), checkpoints.last,
                                        saved_step) from None
                done = step + 1
                with torch.no_grad():
                    method.after_step(done, config.steps)
                row = {**_mean_metrics(out, device), "step": done, "seed": seeds[0], "lr": lr,
                       "seconds": round(progress.clock(), 4)}
                for mark in marks.due(progress.cpu.minutes()):
                    checkpoints.save(mark_path(run_dir, mark), done, stepper, method, progress, mark)
                last = done == config.steps or marks.finished
                if lead and validate is not None and _validates(config, done, last):
                    row["val_acc"] = _validate_and_keep_best(validate, method, device, done,
                                                             progress, checkpoints, stepper)
                log.write(row)
                if done % config.checkpoint_every == 0 or last:
                    log.flush()
                    checkpoints.save(checkpoints.last, done, stepper, method, progress)
                    saved_step = done
                log.bar.update(1)
    finally:
        log.close()
    if marks.pending:
        raise BenchmarkError(
            f"{run_dir}: trainer.steps ({config.steps}) ran out at "
            f"{progress.cpu.minutes():.2f} CPU-min, before mark(s) "
            f"{', '.join(f'{m:g}' for m in marks.pending)}; raise trainer.steps")
    return _result(config, start, saved_step, row, progress, checkpoints, stepper)


def _mean_metrics(out: Mapping[str, Any], device: torch.device) -> dict[str, float]:
    """The step's scalar outputs as floats, each the mean over the ranks."""
    return {k: _scalar(distributed.mean_over_ranks(torch.as_tensor(v, device=device)))
            for k, v in out.items() if _is_scalar(v)}


def _result(config: TrainConfig, start: int, done: int, last_row: Mapping[str, Any],
            progress: Progress, checkpoints: Checkpoints, stepper: TrainStep) -> TrainResult:
    """What ``train`` reports (``done`` steps), from the last row this call logged (none: nan
    metrics)."""
    best = progress.best
    return TrainResult(
        steps=done,
        resumed_from=start,
        final_loss=last_row.get("loss", float("nan")),
        final_acc=last_row.get("acc", float("nan")),
        best_val_acc=best["val_acc"],
        best_step=best["step"],
        last_checkpoint=checkpoints.last,
        best_checkpoint=checkpoints.best if best["val_acc"] is not None else None,
        seconds=time.perf_counter() - progress.started,
        device=str(stepper.device),
        run_seconds=progress.saved_clock,
        cpu_seconds=progress.cpu.seconds(),
        precision=stepper.precision,
    )


def draw_step(sampler: EpisodeSampler, seeds: list[int]) -> list[Episode]:
    """The episodes of one step: one drawn alone, a meta-batch in one vectorised draw."""
    return [sampler.sample(seeds[0])] if len(seeds) == 1 else sampler.sample_batch(seeds)


class MetaBatch(torch.nn.Module):
    """``method.forward_batch`` as a module's ``forward``, for DistributedDataParallel to wrap
    (its gradient hooks need the call to go through the wrapper)."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def forward(self, episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
        return self.method.forward_batch(episodes)


def _same_start(start: int, run_dir: Path, device: torch.device) -> None:
    """Under torchrun: every rank resumes at the same step (they all read rank 0's
    ``last.pt``, so the runs folder must be one every rank sees)."""
    starts = distributed.gather_no_grad(torch.tensor([start], device=device)).tolist()
    if len(set(starts)) > 1:
        raise BenchmarkError(f"the ranks found different checkpoints in {run_dir} (steps "
                             f"{starts}): every rank must see the same runs folder")


def _parallel(method: Method, device: torch.device) -> torch.nn.Module:
    """``method`` itself, or under torchrun its DistributedDataParallel wrapper (gradients
    averaged over the ranks; rank 0's weights broadcast when it is built, its buffers every
    step), with SyncBatchNorm on CUDA (global batch statistics, as SimCLR; torch has no CPU
    SyncBatchNorm). The wrapper shares ``method``'s parameters, so checkpoints of ``method``
    hold the trained weights."""
    if not distributed.is_distributed():
        return method
    if device.type == "cuda":  # untested on GPU: written for one GPU per rank
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
        return DistributedDataParallel(MetaBatch(method), device_ids=[device.index])
    return DistributedDataParallel(MetaBatch(method))


def _validate(validate: Validator, method: torch.nn.Module, device: torch.device) -> float:
    """Validation accuracy, without disturbing the training RNG stream or train mode."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        accuracy = float(validate(method))
    method.train()
    return accuracy


def _check_resumable(
    payload: Mapping[str, Any], config: TrainConfig, model_spec: ModelSpec, path: Path,
    validates: bool = False,
) -> None:
    saved = payload.get("config", {})
    current = config.to_dict()
    defaults = TrainConfig().to_dict()  # a key the checkpoint lacks: it ran with the default
    differ = sorted(
        k for k in current
        if k not in RESUMABLE and k != "steps" and saved.get(k, defaults[k]) != current[k]
    )
    saved_steps = saved.get("steps", defaults["steps"])
    if saved_steps != config.steps:
        why = why_not_continued(
            config, int(saved_steps), int(payload.get("step", 0)),
            METHODS.get(model_spec.method).budget_free(model_spec.params), validates)
        if why:
            differ.append(f"steps: {why}")
    if ModelSpec.from_dict(payload["model_spec"]) != model_spec:
        differ.insert(0, "model_spec")
    if differ:
        raise BenchmarkError(
            f"{path} belongs to another run (differs in {', '.join(differ)}); "
            "use another run directory or delete it"
        )
    for key in ("optimizer", "scheduler", "rng", "best"):
        if key not in payload:
            raise BenchmarkError(f"{path} is not a training checkpoint (lacks {key})")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1)


def _scalar(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)

