"""The trainer: exact resume, divergence handling, determinism, the method lifecycle
(``after_step``, ``trainable_parameters``), config checks, acceptance run."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest
import torch

from benchmark.backbones import build_backbone, place_model
from benchmark.checkpoint import load_checkpoint, rebuild_method
from benchmark.methods import ModelSpec
from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.methods.protonet import ProtoNet
from benchmark.modules import frozen_copy, update_momentum
from benchmark.train import (
    SCHEDULES,
    DivergedError,
    TrainConfig,
    TrainStep,
    build_optimizer,
    build_scheduler,
    episode_seed,
    lr_factor,
    train,
)

SHAPE = (1, 16, 16)


pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = ModelSpec("protonet", "conv4", SHAPE)


@dataclass
class BlobSampler:
    """Labelled episodes of noisy class templates, a pure function of the seed."""

    ways: int = 3
    shots: int = 2
    queries: int = 2
    kind: str = "labels"
    offers: frozenset[str] = frozenset({"classes"})
    classes: int = 8
    poison_seed: int | None = None  # this seed's episode holds NaN images
    crash_seed: int | None = None  # this seed's episode raises (a simulated kill)

    def __post_init__(self) -> None:
        self.templates = torch.rand(self.classes, *SHAPE, generator=torch.Generator().manual_seed(99))

    def sample(self, seed: int) -> Episode:
        if seed == self.crash_seed:
            raise KeyboardInterrupt("simulated kill")
        g = torch.Generator().manual_seed(seed)
        class_ids = torch.randperm(self.classes, generator=g)[: self.ways]

        def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
            labels = torch.arange(self.ways).repeat_interleave(per_class)
            noise = 0.3 * torch.rand(len(labels), *SHAPE, generator=g)
            return (0.7 * self.templates[class_ids[labels]] + noise).clamp(0, 1), labels

        support, support_labels = draw(self.shots)
        query, query_labels = draw(self.queries)
        if seed == self.poison_seed:
            support = torch.full_like(support, float("nan"))
        return Episode(support, support_labels, query, query_labels, class_ids,
                       self.ways, self.shots, self.queries, "labels", seed, self.offers)

    def sample_batch(self, seeds: Sequence[int]) -> list[Episode]:
        return [self.sample(s) for s in seeds]


def fresh_method(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return SPEC.build()


def config(**changes) -> TrainConfig:
    base = dict(steps=12, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, schedule="cosine",
                warmup_steps=3, checkpoint_every=4, val_every=3, log_every=2, seed=7, device="cpu",
                progress=False, tensorboard=False)
    return TrainConfig(**{**base, **changes})


def accuracy_validator(method: torch.nn.Module) -> float:
    """Validation on three fixed episodes (prototype classification), deterministic."""
    from benchmark.evaluation import evaluate

    return evaluate(method, BlobSampler().sample_batch([1000, 1001, 1002])).mean


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_resume_after_a_kill_mid_write_keeps_one_row_per_step(tmp_path: Path) -> None:
    cfg = config(val_every=0)
    crash = BlobSampler(crash_seed=episode_seed(cfg.seed, 9))
    with pytest.raises(KeyboardInterrupt):
        train(fresh_method(), crash, cfg, tmp_path, model_spec=SPEC)
    with (tmp_path / "metrics.csv").open("a") as handle:
        handle.write("1")  # the start of row 10, cut by a kill
    (tmp_path / ".last.pt.abc.tmp").write_bytes(b"half a checkpoint")
    train(fresh_method(), BlobSampler(), cfg, tmp_path, model_spec=SPEC)
    assert [r["step"] for r in metric_rows(tmp_path)] == [str(s) for s in range(1, 13)]
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_seconds_column_continues_over_a_resume(tmp_path: Path) -> None:
    cfg = config(val_every=0)
    with pytest.raises(KeyboardInterrupt):
        train(fresh_method(), BlobSampler(crash_seed=episode_seed(cfg.seed, 9)), cfg, tmp_path,
              model_spec=SPEC)
    saved = load_checkpoint(tmp_path / "last.pt")["seconds"]
    train(fresh_method(), BlobSampler(), cfg, tmp_path, model_spec=SPEC)
    seconds = [float(r["seconds"]) for r in metric_rows(tmp_path)]
    assert seconds == sorted(seconds) and seconds[8] >= saved >= seconds[7] > 0


def test_finished_run_is_not_retrained(tmp_path: Path) -> None:
    cfg = config(steps=4)
    method = fresh_method()
    train(method, BlobSampler(), cfg, tmp_path, model_spec=SPEC)
    other = fresh_method(seed=5)
    result = train(other, BlobSampler(crash_seed=episode_seed(cfg.seed, 0)), cfg, tmp_path, model_spec=SPEC)
    assert result.resumed_from == 4
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in method.state_dict().items())


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = config(checkpoint_every=2)
    poisoned = BlobSampler(poison_seed=episode_seed(cfg.seed, 6))  # the 7th step
    with pytest.raises(DivergedError, match="step 7") as info:
        train(fresh_method(), poisoned, cfg, tmp_path, model_spec=SPEC)
    assert isinstance(info.value, BenchmarkError)
    assert info.value.step == 7 and info.value.checkpoint_step == 6
    payload = load_checkpoint(tmp_path / "last.pt")
    assert payload["step"] == 6
    weights = rebuild_method(payload).state_dict()
    assert all(torch.isfinite(v.float()).all() for v in weights.values())
    assert [r["step"] for r in metric_rows(tmp_path)] == [str(s) for s in range(1, 7)]


def test_one_step_is_deterministic() -> None:
    cfg = config()
    episode = BlobSampler().sample(3)
    weights = []
    for _ in range(2):
        method = fresh_method()
        optimizer = build_optimizer(method, cfg)
        step = TrainStep(method.train(), optimizer, build_scheduler(optimizer, cfg), torch.device("cpu"))
        out = step([episode])
        assert set(out) >= {"loss", "acc"}
        weights.append(method.state_dict())
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


class EMAProtoNet(ProtoNet):
    """ProtoNet with a momentum target of its backbone, as MoCo and BYOL keep one: a frozen copy
    updated in ``after_step``, run (no gradient) on the queries so its BatchNorm statistics move,
    and a buffer counting its updates. Records every ``after_step`` call in ``calls``."""

    name = "ema_protonet"

    def __init__(self, backbone: torch.nn.Module, momentum: float = 0.9) -> None:
        super().__init__(backbone)
        self.momentum = momentum
        self.target = frozen_copy(backbone)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.calls: list[tuple[int, int, bool, bool, bool]] = []
        self._weights_in_forward: torch.Tensor | None = None

    def forward(self, episode: Episode) -> dict[str, torch.Tensor]:
        out = super().forward(episode)
        with torch.no_grad():
            out["target_std"] = self.target(episode.query).std(0).mean()
        self._weights_in_forward = next(self.backbone.parameters()).detach().clone()
        return out

    def after_step(self, step: int, total_steps: int) -> None:
        stepped = not torch.equal(self._weights_in_forward, next(self.backbone.parameters()))
        self.calls.append((step, total_steps, torch.is_grad_enabled(), self.training, stepped))
        update_momentum(self.target, self.backbone, self.momentum)
        self.updates += 1


EMA_SPEC = ModelSpec("ema_protonet", "conv4", SHAPE)


def ema_method(seed: int = 0) -> EMAProtoNet:
    torch.manual_seed(seed)
    return EMAProtoNet(build_backbone("conv4", SHAPE))


def test_after_step_runs_once_per_step_after_the_optimiser(tmp_path: Path) -> None:
    cfg = config()
    crashed = ema_method()
    with pytest.raises(KeyboardInterrupt):
        train(crashed, BlobSampler(crash_seed=episode_seed(cfg.seed, 9)), cfg, tmp_path, model_spec=EMA_SPEC)
    # (step, total_steps, grad enabled, train mode, weights already stepped)
    assert crashed.calls == [(s, 12, False, True, True) for s in range(1, 10)]
    resumed = ema_method(seed=1)
    train(resumed, BlobSampler(), cfg, tmp_path, accuracy_validator, model_spec=EMA_SPEC)
    assert resumed.calls == [(s, 12, False, True, True) for s in range(9, 13)]  # resumed at step 8
    assert int(resumed.updates) == 12


class PartlyFrozenProtoNet(ProtoNet):
    """ProtoNet whose optimiser leaves the first backbone block alone (it still gets gradients)."""

    def trainable_parameters(self) -> Iterator[torch.nn.Parameter]:
        first = {id(p) for p in self.backbone.net[0].parameters()}
        return (p for p in self.parameters() if id(p) not in first)


def test_parameters_left_out_of_trainable_parameters_are_not_optimised(tmp_path: Path) -> None:
    cfg = config(steps=4, optimizer="adamw", lr=1e-2, nesterov=False, weight_decay=0.5)
    torch.manual_seed(0)
    method = PartlyFrozenProtoNet(build_backbone("conv4", SHAPE))
    frozen = list(method.backbone.net[0].parameters())
    assert all(p.requires_grad for p in frozen)
    optimizer = build_optimizer(method, cfg)
    owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert owned == {id(p) for p in method.trainable_parameters()} and not owned & {id(p) for p in frozen}

    before = {k: v.clone() for k, v in method.named_parameters()}
    train(method, BlobSampler(), cfg, tmp_path, model_spec=SPEC)
    for name, value in method.named_parameters():
        unchanged = torch.equal(before[name], value)
        assert unchanged == name.startswith("backbone.net.0."), name


def test_resume_with_another_config_is_refused(tmp_path: Path) -> None:
    train(fresh_method(), BlobSampler(), config(steps=2), tmp_path, model_spec=SPEC)
    with pytest.raises(BenchmarkError, match="differs in lr"):
        train(fresh_method(), BlobSampler(), config(steps=2, lr=0.5), tmp_path, model_spec=SPEC)


def test_unusable_episode_source_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="patches"):
        train(fresh_method(), BlobSampler(kind="patches", offers=frozenset({"instances"})), config(),
              tmp_path / "run", model_spec=SPEC)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "changes, message",
    [({"optimizer": "lars"}, "unknown optimizer"), ({"schedule": "poly"}, "unknown schedule"),
     ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"nesterov": True, "momentum": 0.0}, "nesterov")],
)
def test_bad_config_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        config(**changes)


def test_unknown_config_key_is_refused() -> None:
    with pytest.raises(BenchmarkError, match="unknown key"):
        TrainConfig.from_dict({"steps": 3, "learning_rate": 0.1})


@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_schedules_start_at_one_after_warmup(schedule: str) -> None:
    assert lr_factor(schedule, 0, 100, 0) == 1.0
    assert lr_factor(schedule, 4, 100, 1) == pytest.approx(0.5)
    assert 0.0 <= lr_factor(schedule, 0, 100, 99) <= 1.0


@pytest.mark.parametrize("warmup", [0, 100])
def test_halve2000_halves_every_2000_steps_after_warmup(warmup: int) -> None:
    """ProtoNet's schedule (Snell et al.: Adam 1e-3 halved every 2,000 episodes), whatever the budget."""
    for budget in (5000, 100000):
        factors = [lr_factor("halve2000", warmup, budget, warmup + s) for s in (0, 1999, 2000, 3999, 4000, 6500)]
        assert factors == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_default_schedule_is_still_constant() -> None:
    assert TrainConfig().schedule == "constant"
    assert [lr_factor("constant", 0, 100, s) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]


def test_cosine_decays_to_zero() -> None:
    assert lr_factor("cosine", 0, 100, 100) == pytest.approx(0.0)
    assert lr_factor("step", 0, 100, 80) == pytest.approx(0.01)


@pytest.mark.slow
def test_protonet_learns_embedded_omniglot(tmp_path: Path) -> None:
    """100 ProtoNet steps (20-way 1-shot) on the background characters: > 80% 5-way 1-shot
    validation accuracy on the evaluation characters."""
    from benchmark.data import load_split
    from benchmark.samplers import build_sampler
    from benchmark.evaluation import evaluate, fixed_episodes, validator

    train_split = load_split("omniglot", "background")
    val = fixed_episodes(load_split("omniglot", "evaluation"), 5, 1, 15, 50, seed=1)
    spec = ModelSpec("protonet", "conv4", train_split.image_shape)
    torch.manual_seed(0)
    method = spec.build()
    sampler = build_sampler("labels", train_split, 20, 1, 4)
    cfg = TrainConfig(steps=100, lr=3e-3, checkpoint_every=100, seed=0, device="cpu",
                      progress=False, tensorboard=False)
    result = train(method, sampler, cfg, tmp_path, validator(val), model_spec=spec)
    assert result.best_val_acc > 0.80, result
    best = evaluate(place_model(rebuild_method(load_checkpoint(tmp_path / "best.pt")), "cpu"), val)
    assert best.mean == result.best_val_acc
