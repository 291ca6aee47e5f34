"""The one training loop for every method.

``train(method, sampler, config, run_dir)`` draws episode ``step`` from the seed
``episode_seed(config.seed, step)``, so a resumed run sees the very episodes an uninterrupted
one would. It logs every step to ``run_dir/metrics.csv`` (and TensorBoard when installed),
validates every ``val_every`` steps through the ``validate`` callable, keeps ``best.pt`` and
``last.pt`` (written atomically), and resumes from ``last.pt`` when it matches the config. It
drives the method's lifecycle (``Method.trainable_parameters``, ``Method.after_step``).

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
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from benchmark.bars import progress_bar

from benchmark import distributed
from benchmark.backbones import place_model
from benchmark.checkpoint import (
    ModelSpec,
    load_checkpoint,
    model_spec_of,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from benchmark.device import resolve_device
from benchmark.episodes.episode import Episode, EpisodeSampler
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method
from benchmark.train.config import TrainConfig
from benchmark.train.metrics_log import MetricsLog
from benchmark.train.optim import build_optimizer, build_scheduler

Validator = Callable[[torch.nn.Module], float]

#: Config fields that may change between a run and its resumption (they do not touch the weights).
RESUMABLE_CHANGES = frozenset(
    {"device", "progress", "tensorboard", "log_every", "val_every", "val_episodes",
     "checkpoint_every"}
)


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


# --------------------------------------------------------------------------- seeds


def episode_seed(seed: int, step: int, rank: int = 0) -> int:
    """The episode seed of 0-based ``step`` in a run seeded ``seed`` (a 31-bit int); under
    torchrun, ``rank`` > 0 draws its own (rank 0's are a one-process run's)."""
    entropy = [seed, step] if rank == 0 else [seed, step, rank]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] & 0x7FFFFFFF)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# --------------------------------------------------------------------------- one step


class TrainStep:
    """One optimisation step: forward, finite-loss check, backward, optimiser and LR step.

    Args:
        method: the Method (``forward(episode) -> {"loss", "acc", ...}``), placed by ``place``
            (under torchrun, its DistributedDataParallel wrapper).
        optimizer, scheduler: as built by ``build_optimizer`` / ``build_scheduler``.
        device: where episodes are moved.
        amp: autocast float16 + GradScaler (only on CUDA).
    """

    def __init__(
        self,
        method: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        device: torch.device,
        amp: bool = False,
    ) -> None:
        self.method = method
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.device = device
        self.amp = amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def __call__(self, episode: Episode) -> dict[str, torch.Tensor]:
        """Run the step; returns the method's outputs (detached). A non-finite loss (on any
        rank) raises ``FloatingPointError`` before any weight changes."""
        episode = episode.to(self.device)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
        with autocast:
            out = self.method(episode)
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
    in channels-last unless ``config.channels_last`` is off (``backbones.place_model``);
    returns the device."""
    device = distributed.rank_device(resolve_device(config.device))
    place_model(method, device, config.channels_last)
    return device


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
    method: Method,
    sampler: EpisodeSampler,
    config: TrainConfig,
    run_dir: Path,
    validate: Validator | None = None,
    *,
    model_spec: ModelSpec | None = None,
    spec: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``method`` on episodes from ``sampler`` for ``config.steps`` steps.

    Args:
        method: trained in place (its final weights are the run's last weights); the optimiser
            owns its ``trainable_parameters()``, and ``after_step(step, config.steps)`` runs
            after every step.
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
    method.check_kind(sampler.kind)
    lead = distributed.rank() == 0  # validates and writes; every rank when not distributed
    method.check_ranks()
    device = place(method, config)
    run_dir = Path(run_dir)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if lead:
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in run_dir.glob(".*.tmp"):  # temporary files of a write killed half-way
            stale.unlink(missing_ok=True)

    optimizer = build_optimizer(method, config)
    scheduler = build_scheduler(optimizer, config)

    best: dict[str, Any] = {"val_acc": None, "step": None}
    start, clock_offset, payload = 0, 0.0, None
    if last_path.exists():
        payload = load_checkpoint(last_path, map_location=device)
        _check_resumable(payload, config, model_spec, last_path)
        method.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        set_rng_state(payload["rng"])
        start, best = int(payload["step"]), dict(payload["best"])
        clock_offset = float(payload.get("seconds", 0.0))
    else:
        seed_everything(config.seed)
    _same_start(start, run_dir, device)  # every rank has decided before rank 0 writes
    stepper = TrainStep(_parallel(method, device), optimizer, scheduler, device, config.amp)
    if payload is not None and stepper.scaler.is_enabled() and payload.get("scaler"):
        stepper.scaler.load_state_dict(payload["scaler"])

    def clock() -> float:
        """The run's training seconds so far, over all its sittings."""
        return clock_offset + time.perf_counter() - started

    def checkpoint(path: Path, step: int) -> None:
        if not lead:
            return
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
            "seconds": clock(),
        })

    if start == 0 and not last_path.exists():
        checkpoint(last_path, 0)
    saved_step = start

    log = MetricsLog(run_dir / "metrics.csv", start) if lead else None
    board = _tensorboard(run_dir, config.tensorboard and lead, start)
    bar = progress_bar(config.steps, start, "train", config.progress if lead else False)
    final_loss = final_acc = float("nan")
    method.train()
    try:
        for step in range(start, config.steps):
            seed = episode_seed(config.seed, step, distributed.rank())
            lr = optimizer.param_groups[0]["lr"]
            try:
                out = stepper(sampler.sample(seed))
            except FloatingPointError as err:
                raise DivergedError(step + 1, float(err.args[0]), last_path, saved_step) from None
            done = step + 1
            with torch.no_grad():
                method.after_step(done, config.steps)
            row = {k: _scalar(distributed.mean_over_ranks(torch.as_tensor(v, device=device)))
                   for k, v in out.items() if _is_scalar(v)}
            final_loss, final_acc = row["loss"], row.get("acc", float("nan"))
            row.update(step=done, seed=seed, lr=lr, seconds=round(clock(), 4))
            if lead and validate is not None and (done == config.steps or (config.val_every and done % config.val_every == 0)):
                row["val_acc"] = _validate(validate, method, device)
                if best["val_acc"] is None or row["val_acc"] > best["val_acc"]:
                    best = {"val_acc": row["val_acc"], "step": done}
                    checkpoint(best_path, done)
            if log is not None:
                log.write(row)
            if board is not None:
                for key, value in row.items():
                    if key not in ("step", "seed", "seconds") and value is not None:
                        board.add_scalar(f"train/{key}", value, done)
            if log is not None and (done % config.log_every == 0 or done == config.steps):
                log.flush()
                bar.set_postfix(loss=f"{final_loss:.4f}", acc=f"{final_acc:.3f}", refresh=False)
            if done % config.checkpoint_every == 0 or done == config.steps:
                if log is not None:
                    log.flush()
                checkpoint(last_path, done)
                saved_step = done
            bar.update(1)
    finally:
        bar.close()
        if log is not None:
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
        return DistributedDataParallel(method, device_ids=[device.index])
    return DistributedDataParallel(method)


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

