"""Exact resume, in process, for every trainable method of the registry: a run killed mid-way
(a ``KeyboardInterrupt`` while drawing an episode) and resumed from ``last.pt`` ends with the
weights, the EMA targets, the key queues, the metrics and the best validation of an
uninterrupted run, whatever the optimiser (they take turns over the methods) and with a
meta-batch. The SIGKILL test of a whole ``benchmark run`` is tests/test_kill_resume.py."""

from __future__ import annotations

import csv
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import pytest
import torch

from benchmark.checkpoint import load_checkpoint
from benchmark.methods import ModelSpec
from benchmark.data import load_split
from benchmark.errors import BenchmarkError
from benchmark.episodes.episode import Episode
from benchmark.evaluation import evaluate
from benchmark.methods import METHODS
from benchmark.samplers import Sampler, build_sampler
from benchmark.train import OPTIMIZERS, TrainConfig, step_seeds, train

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (1, 28, 28)
STEPS, CHECKPOINT_EVERY, KILLED_AT = 6, 2, 5  # killed while drawing step 5: resumes at 4
#: small queues of whole steps (2 x 6 keys a step on 6-image augmentation episodes)
PARAMS: dict[str, dict[str, Any]] = {"moco": {"queue_size": 48},
                                     "psco": {"queue_size": 48, "num_shots": 2}}
TRAINABLE = [name for name in METHODS.names() if METHODS.get(name).trains]
#: (method, extra parameters, meta_batch): every trainable method, FOMAML, and a meta-batch.
CASES = [(name, {}, 1) for name in TRAINABLE] + [("maml", {"first_order": True}, 1),
                                                 ("moco", {}, 2)]


def sampler(name: str) -> Sampler:
    """Episodes the method trains on: labelled classes, or augmentation views when it needs
    instances."""
    split = load_split("omniglot", "background")
    if "instances" in METHODS.get(name).needs:
        return build_sampler("augment", split, 6, 1, 1, augment_support=False)
    return build_sampler("labels", split, 3, 1, 2)


class Killed:
    """``inner``, raising KeyboardInterrupt (a simulated kill) when it draws ``seed``."""

    def __init__(self, inner: Sampler, seed: int) -> None:
        self.inner, self.seed = inner, seed
        self.kind, self.offers = inner.kind, inner.offers
        self.ways, self.shots, self.queries = inner.ways, inner.shots, inner.queries

    def sample(self, seed: int) -> Episode:
        return self.sample_batch([seed])[0]

    def sample_batch(self, seeds: Sequence[int]) -> list[Episode]:
        if self.seed in seeds:
            raise KeyboardInterrupt("simulated kill")
        return self.inner.sample_batch(seeds)


@lru_cache(maxsize=1)
def validation_episodes() -> tuple[Episode, ...]:
    split = load_split("omniglot", "evaluation")
    return tuple(build_sampler("labels", split, 3, 1, 2).sample_batch([1000, 1001]))


def validator(method: torch.nn.Module) -> float:
    """Prototype accuracy on two fixed labelled episodes."""
    return evaluate(method, list(validation_episodes())).mean


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name,params,meta_batch", CASES,
                         ids=[f"{n}{'-' + '-'.join(p) if p else ''}-x{m}" for n, p, m in CASES])
def test_resume_gives_the_uninterrupted_run(tmp_path: Path, name: str, params: dict,
                                            meta_batch: int) -> None:
    optimizer = OPTIMIZERS.names()[TRAINABLE.index(name) % len(OPTIMIZERS.names())]
    cfg = TrainConfig(steps=STEPS, optimizer=optimizer, lr=0.01 if optimizer == "sgd" else 1e-3,
                      nesterov=optimizer == "sgd", weight_decay=0.01, schedule="cosine",
                      warmup_steps=2, checkpoint_every=CHECKPOINT_EVERY, val_every=2,
                      meta_batch=meta_batch, seed=3, device="cpu", progress=False,
                      tensorboard=False)
    spec = ModelSpec(name, "conv4", SHAPE, {**PARAMS.get(name, {}), **params})

    def fresh(seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        return spec.build()

    straight = fresh()
    initial = {k: v.clone() for k, v in straight.state_dict().items()}
    result = train(straight, sampler(name), cfg, tmp_path / "a", validator, model_spec=spec)
    assert result.steps == STEPS and result.resumed_from == 0

    killed = Killed(sampler(name), step_seeds(cfg.seed, KILLED_AT - 1, meta_batch)[-1])
    with pytest.raises(KeyboardInterrupt):
        train(fresh(), killed, cfg, tmp_path / "b", validator, model_spec=spec)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 4
    resumed = fresh(seed=123)  # any initialisation: the checkpoint replaces it
    again = train(resumed, sampler(name), cfg, tmp_path / "b", validator, model_spec=spec)
    assert again.resumed_from == 4

    expected, actual = straight.state_dict(), resumed.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:  # weights, BN statistics, EMA target, queue keys and pointer
        assert torch.equal(expected[key], actual[key]), key
    a, b = metric_rows(tmp_path / "a"), metric_rows(tmp_path / "b")
    assert [r["step"] for r in b] == [str(s) for s in range(1, STEPS + 1)]
    assert [(r["loss"], r["val_acc"]) for r in a] == [(r["loss"], r["val_acc"]) for r in b]
    assert (result.best_val_acc, result.best_step) == (again.best_val_acc, again.best_step)

    if any(k.startswith("target_") for k in expected):  # the EMA target moved, and resumed
        assert [k for k in expected if k.startswith("target_") and expected[k].is_floating_point()
                and not torch.equal(expected[k], initial[k])], "the target never moved"
    if "queue.keys" in expected:  # every step enqueued its episodes' keys
        keys = STEPS * meta_batch * 2 * 6
        assert int(expected["queue.ptr"]) == keys % len(expected["queue.keys"])
        assert not torch.equal(expected["queue.keys"], initial["queue.keys"])


#: (method, parameters, schedule): training that never reads the budget (halve2000, a constant
#: momentum with a queue), so that a finished run goes on to a larger STEP COUNT.
GOES_ON = [("protonet", {}, "halve2000"), ("moco", {"queue_size": 48}, "constant")]


@pytest.mark.parametrize("name,params,schedule", GOES_ON, ids=[c[0] for c in GOES_ON])
def test_a_run_goes_on_to_a_larger_step_count_as_if_started_with_it(
        tmp_path: Path, name: str, params: dict, schedule: str) -> None:
    """A run of 4 steps, given 6, continues from its checkpoint and ends with the weights,
    metrics and best validation of a run started with 6 (validating every 2 steps: the
    shorter run's last validation is one the longer run makes too)."""
    spec = ModelSpec(name, "conv4", SHAPE, params)
    cfg = TrainConfig(steps=STEPS, schedule=schedule, checkpoint_every=CHECKPOINT_EVERY,
                      val_every=2, seed=3, device="cpu", progress=False, tensorboard=False)

    def fresh(seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        return spec.build()

    straight = fresh()
    result = train(straight, sampler(name), cfg, tmp_path / "a", validator, model_spec=spec)
    shorter = train(fresh(), sampler(name), replace(cfg, steps=4), tmp_path / "b", validator,
                    model_spec=spec)
    assert shorter.steps == 4
    longer = fresh(seed=123)
    again = train(longer, sampler(name), cfg, tmp_path / "b", validator, model_spec=spec)
    assert again.resumed_from == 4 and again.steps == STEPS
    for key, value in straight.state_dict().items():
        assert torch.equal(value, longer.state_dict()[key]), key
    a, b = metric_rows(tmp_path / "a"), metric_rows(tmp_path / "b")
    assert [(r["step"], r["loss"], r["val_acc"]) for r in a] == [
        (r["step"], r["loss"], r["val_acc"]) for r in b]
    assert (result.best_val_acc, result.best_step) == (again.best_val_acc, again.best_step)


#: (method, trainer of the shorter run, trainer of the longer, why it cannot go on)
STARTS_OVER = [
    ("protonet", dict(steps=4, schedule="cosine"), dict(steps=6, schedule="cosine"),
     "schedule 'cosine' is a fraction of the budget"),
    ("byol", dict(steps=4), dict(steps=6), "its momentum"),
    ("protonet", dict(steps=3, val_every=2), dict(steps=6, val_every=2),
     r"validated at its last step \(3\)"),
    ("protonet", dict(steps=6), dict(steps=4), "past the new trainer.steps"),
]


@pytest.mark.parametrize("name,before,after,why", STARTS_OVER,
                         ids=["cosine-schedule", "byol-momentum", "last-validation", "fewer"])
def test_a_run_whose_training_reads_its_budget_does_not_go_on(
        tmp_path: Path, name: str, before: dict, after: dict, why: str) -> None:
    spec = ModelSpec(name, "conv4", SHAPE, {})
    cfg = TrainConfig(checkpoint_every=CHECKPOINT_EVERY, seed=3, device="cpu", progress=False,
                      tensorboard=False)
    train(spec.build(), sampler(name), replace(cfg, **before), tmp_path, validator,
          model_spec=spec)
    with pytest.raises(BenchmarkError, match=f"differs in steps: .*{why}"):
        train(spec.build(), sampler(name), replace(cfg, **after), tmp_path, validator,
              model_spec=spec)
