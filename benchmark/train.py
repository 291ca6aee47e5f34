"""The one training loop for every method.

``train(method, sampler, config, run_dir)`` draws episode ``step`` from the seed
``episode_seed(config.seed, step)``, so a resumed run sees the very episodes an uninterrupted
one would. It logs every step to ``run_dir/metrics.csv`` (and TensorBoard when installed),
validates every ``val_every`` steps through the ``validate`` callable, keeps ``best.pt`` and
``last.pt`` (written atomically), and resumes from ``last.pt`` when it matches the config.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.checkpoint import (
    ModelSpec,
    load_checkpoint,
    model_spec_of,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from benchmark.device import resolve_device
from benchmark.episodes.episode import Episode, EpisodeSource
from benchmark.errors import BenchmarkError, refuse_unknown
from benchmark.registry import Registry

Validator = Callable[[torch.nn.Module], float]

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
SCHEDULES: Registry[Callable[[float], float]] = Registry("schedule")

#: Config fields that may change between a run and its resumption (they do not touch the weights).
RESUMABLE_CHANGES = frozenset(
    {"device", "progress", "tensorboard", "log_every", "val_every", "val_episodes",
     "checkpoint_every"}
)
METRIC_COLUMNS = ("step", "seed", "loss", "acc", "lr", "val_acc", "seconds")


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
class TrainConfig:
    """Everything that decides a training run, besides the method and the episode source.

    Attributes:
        steps: optimisation steps (one episode each).
        optimizer: a registered optimiser (``OPTIMIZERS``): ``adam``, ``adamw``, ``sgd``.
        lr, weight_decay: learning rate and weight decay.
        momentum, nesterov: SGD momentum and Nesterov flag (ignored by Adam).
        schedule: a registered learning-rate schedule (``SCHEDULES``): constant, cosine, step.
        warmup_steps: linear warm-up steps before the schedule.
        val_every: validate every this many steps (and at the end); 0 validates only at the end.
        val_episodes: episodes the caller's validator uses (see ``evaluate.validator``).
        log_every: progress-bar refresh and CSV flush interval.
        checkpoint_every: write ``last.pt`` every this many steps (and at the end).
        seed: seeds the generators at the start and every episode (``episode_seed``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (autocast float16 + GradScaler); used on CUDA only.
        channels_last: channels-last memory format for the model and the episode images
            (≈1.3x faster convolutions on CPU; the default).
        progress: tqdm progress bar; ``None`` shows it when stderr is a terminal.
        tensorboard: also log to ``run_dir/tensorboard`` when TensorBoard is installed.
    """

    steps: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "constant"
    warmup_steps: int = 0
    val_every: int = 0
    val_episodes: int = 100
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = True
    progress: bool | None = None
    tensorboard: bool = True

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.optimizer)
        SCHEDULES.get(self.schedule)
        for name in ("steps", "log_every", "checkpoint_every", "val_episodes"):
            if getattr(self, name) < 1:
                raise BenchmarkError(f"train config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "val_every"):
            if getattr(self, name) < 0:
                raise BenchmarkError(f"train config: {name} must be >= 0, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BenchmarkError(f"train config: lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise BenchmarkError("train config: weight_decay must be >= 0 and momentum in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise BenchmarkError("train config: nesterov needs momentum > 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """A config from a dict; unknown keys are refused with one clear line."""
        refuse_unknown("train config", "key", data, sorted(f.name for f in fields(cls)))
        return cls(**data)


@dataclass(frozen=True)
class TrainResult:
    """What a finished ``train`` call reports.

    Attributes:
        steps: completed steps (== config.steps).
        resumed_from: the step the run resumed at (0 for a fresh run).
        final_loss, final_acc: metrics of the last step run in this call (nan if none ran).
        best_val_acc, best_step: best validation accuracy and its step (None without validation).
        last_checkpoint, best_checkpoint: paths (best is None without validation).
        seconds: wall time of this call.
        device: the device trained on.
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


# --------------------------------------------------------------------------- registries
# Optimisers use foreach=True: one batched update for all parameter tensors; torch picks the
# per-tensor loop on CPU otherwise, which was ~9% of a Conv-4 ProtoNet step here.


@OPTIMIZERS.register("adam", "Adam; weight decay as an L2 term")
def _adam(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


@OPTIMIZERS.register("adamw", "AdamW; decoupled weight decay")
def _adamw(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


@OPTIMIZERS.register("sgd", "SGD with momentum (Nesterov optional)")
def _sgd(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
        nesterov=config.nesterov, foreach=True,
    )


@SCHEDULES.register("constant", "constant learning rate")
def _constant(progress: float) -> float:
    return 1.0


@SCHEDULES.register("cosine", "cosine decay to 0 over the step budget")
def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@SCHEDULES.register("step", "x0.1 at 50% and again at 75% of the step budget")
def _step(progress: float) -> float:
    return 0.1 ** sum(progress >= milestone for milestone in (0.5, 0.75))


def lr_factor(schedule: str, warmup_steps: int, total_steps: int, step: int) -> float:
    """Learning-rate multiplier for 0-based ``step``: linear warm-up, then ``schedule``."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    progress = max(0, step - warmup_steps) / max(1, total_steps - warmup_steps)
    return warm * SCHEDULES.get(schedule)(progress)


# --------------------------------------------------------------------------- seeds


def episode_seed(seed: int, step: int) -> int:
    """The episode seed of 0-based ``step`` in a run seeded ``seed`` (a 31-bit int)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] & 0x7FFFFFFF)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# --------------------------------------------------------------------------- one step


class TrainStep:
    """One optimisation step: forward, finite-loss check, backward, optimiser and LR step.

    Args:
        method: the Method (``forward(episode) -> {"loss", "acc", ...}``).
        optimizer, scheduler: as built by ``build_optimizer`` / ``build_scheduler``.
        device: where episodes are moved.
        amp: autocast float16 + GradScaler (only on CUDA).
        channels_last: move episode images to channels-last memory format.
    """

    def __init__(
        self,
        method: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        device: torch.device,
        amp: bool = False,
        channels_last: bool = False,
    ) -> None:
        self.method = method
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.device = device
        self.amp = amp and device.type == "cuda"
        self.channels_last = channels_last
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def prepare(self, episode: Episode) -> Episode:
        """The episode on the step's device (and memory format)."""
        episode = episode.to(self.device)
        if self.channels_last:
            fmt = torch.channels_last
            episode = replace(
                episode,
                support=episode.support.contiguous(memory_format=fmt),
                query=episode.query.contiguous(memory_format=fmt),
            )
        return episode

    def __call__(self, episode: Episode) -> dict[str, torch.Tensor]:
        """Run the step; returns the method's outputs (detached). A non-finite loss raises
        ``FloatingPointError`` before any weight changes."""
        episode = self.prepare(episode)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
        with autocast:
            out = self.method(episode)
        loss = out["loss"]
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(float(loss.detach()))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.items()}


def place(method: torch.nn.Module, config: TrainConfig) -> torch.device:
    """Move ``method`` to the configured device (and memory format); returns the device."""
    device = resolve_device(config.device)
    method.to(device)
    if config.channels_last:
        method.to(memory_format=torch.channels_last)
    return device


def build_optimizer(method: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimiser over the method's trainable parameters."""
    params = [p for p in method.parameters() if p.requires_grad]
    return OPTIMIZERS.get(config.optimizer)(params, config)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up + schedule as a LambdaLR stepped once per training step."""
    factor = partial(lr_factor, config.schedule, config.warmup_steps, config.steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)


# --------------------------------------------------------------------------- metrics log


class MetricsLog:
    """Per-step rows in ``metrics.csv``; on resume, rows past the checkpoint are dropped first."""

    def __init__(self, path: Path, resume_step: int, extra: Iterable[str] = ()) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.exists():
            self._truncate(resume_step)
        self._extra = sorted(set(extra) - set(METRIC_COLUMNS))
        self._handle: io.TextIOWrapper | None = None
        self._writer: csv.DictWriter | None = None

    def _truncate(self, resume_step: int) -> None:
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows, last = [], 0
            for row in reader:  # a row cut short by a kill is incomplete or out of order: dropped
                step = row.get("step") or ""
                complete = None not in row.values() and None not in row and step.isdigit()
                if complete and last < int(step) <= resume_step:
                    rows.append(row)
                    last = int(step)
        if not columns:
            return
        self.columns = columns
        fd, tmp = tempfile.mkstemp(prefix=".metrics.", suffix=".tmp", dir=self.path.parent)
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def write(self, row: Mapping[str, Any]) -> None:
        if self._writer is None:
            if self.columns is None:
                extra = sorted(k for k in row if k not in METRIC_COLUMNS)
                self.columns = list(METRIC_COLUMNS) + extra
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._handle = self.path.open("a", newline="")
            self._writer = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                self._writer.writeheader()
        self._writer.writerow(row)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self.flush()
            self._handle.close()
            self._handle = self._writer = None


def _tensorboard(run_dir: Path, enabled: bool, start: int) -> Any:
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start or None)


# --------------------------------------------------------------------------- the loop


def train(
    method: torch.nn.Module,
    sampler: EpisodeSource,
    config: TrainConfig,
    run_dir: Path,
    validate: Validator | None = None,
    *,
    model_spec: ModelSpec | None = None,
    spec: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``method`` on episodes from ``sampler`` for ``config.steps`` steps.

    Args:
        method: a Method; trained in place (its final weights are the run's last weights).
        sampler: draws the training episodes; ``sampler.sample(episode_seed(seed, step))``.
        config: optimiser, schedule, budget, logging and device settings.
        run_dir: where ``metrics.csv``, ``last.pt`` and ``best.pt`` live. An existing
            ``last.pt`` of the same config and model is resumed from.
        validate: returns a validation accuracy for the method; called every
            ``config.val_every`` steps and at the end; the best one is kept as ``best.pt``.
        model_spec: how to rebuild the method (default: ``method.model_spec``).
        spec: the caller's spec dict, stored in every checkpoint.

    Raises:
        BenchmarkError: the method cannot use the sampler's episodes, or ``last.pt`` belongs to
            another config or model.
        DivergedError: a NaN or infinite loss (the last good checkpoint is kept).
    """
    started = time.perf_counter()
    model_spec = model_spec or model_spec_of(method)
    if model_spec is None:
        raise ValueError("train needs a model_spec (or method.model_spec) to write checkpoints")
    method.check_source(sampler.kind)
    device = place(method, config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    for stale in run_dir.glob(".*.tmp"):  # temporary files of a write killed half-way
        stale.unlink(missing_ok=True)

    optimizer = build_optimizer(method, config)
    scheduler = build_scheduler(optimizer, config)
    stepper = TrainStep(method, optimizer, scheduler, device, config.amp, config.channels_last)

    best: dict[str, Any] = {"val_acc": None, "step": None}
    start = 0
    if last_path.exists():
        payload = load_checkpoint(last_path, map_location=device)
        _check_resumable(payload, config, model_spec, last_path)
        method.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        if stepper.scaler.is_enabled() and payload.get("scaler"):
            stepper.scaler.load_state_dict(payload["scaler"])
        set_rng_state(payload["rng"])
        start, best = int(payload["step"]), dict(payload["best"])
    else:
        seed_everything(config.seed)

    def checkpoint(path: Path, step: int) -> None:
        save_checkpoint(path, {
            "model_spec": model_spec.to_dict(),
            "model": method.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": stepper.scaler.state_dict(),
            "step": step,
            "rng": rng_state(),
            "config": config.to_dict(),
            "spec": dict(spec or {}),
            "best": dict(best),
        })

    if start == 0 and not last_path.exists():
        checkpoint(last_path, 0)
    saved_step = start

    log = MetricsLog(run_dir / "metrics.csv", start)
    board = _tensorboard(run_dir, config.tensorboard, start)
    show = config.progress if config.progress is not None else sys.stderr.isatty()
    bar = tqdm(total=config.steps, initial=start, disable=not show, desc="train", dynamic_ncols=True)
    final_loss = final_acc = float("nan")
    method.train()
    try:
        for step in range(start, config.steps):
            seed = episode_seed(config.seed, step)
            lr = optimizer.param_groups[0]["lr"]
            try:
                out = stepper(sampler.sample(seed))
            except FloatingPointError as err:
                raise DivergedError(step + 1, float(err.args[0]), last_path, saved_step) from None
            done = step + 1
            row = {k: _scalar(v) for k, v in out.items() if _is_scalar(v)}
            final_loss, final_acc = row["loss"], row.get("acc", float("nan"))
            row.update(step=done, seed=seed, lr=lr, seconds=round(time.perf_counter() - started, 4))
            if validate is not None and (done == config.steps or (config.val_every and done % config.val_every == 0)):
                row["val_acc"] = _validate(validate, method, device)
                if best["val_acc"] is None or row["val_acc"] > best["val_acc"]:
                    best = {"val_acc": row["val_acc"], "step": done}
                    checkpoint(best_path, done)
            log.write(row)
            if board is not None:
                for key, value in row.items():
                    if key not in ("step", "seed", "seconds") and value is not None:
                        board.add_scalar(f"train/{key}", value, done)
            if done % config.log_every == 0 or done == config.steps:
                log.flush()
                bar.set_postfix(loss=f"{final_loss:.4f}", acc=f"{final_acc:.3f}", refresh=False)
            if done % config.checkpoint_every == 0 or done == config.steps:
                log.flush()
                checkpoint(last_path, done)
                saved_step = done
            bar.update(1)
    finally:
        bar.close()
        log.close()
        if board is not None:
            board.close()

    return TrainResult(
        steps=config.steps,
        resumed_from=start,
        final_loss=final_loss,
        final_acc=final_acc,
        best_val_acc=best["val_acc"],
        best_step=best["step"],
        last_checkpoint=last_path,
        best_checkpoint=best_path if best["val_acc"] is not None else None,
        seconds=time.perf_counter() - started,
        device=str(device),
    )


def _validate(validate: Validator, method: torch.nn.Module, device: torch.device) -> float:
    """Validation accuracy, without disturbing the training RNG stream or train mode."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        accuracy = float(validate(method))
    method.train()
    return accuracy


def _check_resumable(
    payload: Mapping[str, Any], config: TrainConfig, model_spec: ModelSpec, path: Path
) -> None:
    saved = payload.get("config", {})
    current = config.to_dict()
    differ = sorted(
        k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]
    )
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
