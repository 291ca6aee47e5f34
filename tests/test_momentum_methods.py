"""What MoCo, BYOL and PsCo share (``benchmark.methods.momentum``): the EMA target is out of the
optimiser and gets no gradient, ``after_step`` applies the scheduled EMA, and kill + resume
gives the uninterrupted run's weights, target and queue included (torch.equal)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.checkpoint import load_checkpoint
from benchmark.modules import MOMENTUM_SCHEDULES
from benchmark.train import TrainConfig, episode_seed, train

from fixtures_data import PARAMS, episode, method, sampler

pytestmark = pytest.mark.usefixtures("one_thread")
METHODS = sorted(PARAMS)


@pytest.mark.parametrize("name", METHODS)
def test_target_starts_equal_is_out_of_the_optimiser_and_gets_no_gradient(name: str) -> None:
    model = method(name)
    online = dict(model.backbone.named_parameters()) | {
        f"p.{k}": v for k, v in model.projector.named_parameters()}
    target = dict(model.target_backbone.named_parameters()) | {
        f"p.{k}": v for k, v in model.target_projector.named_parameters()}
    assert online.keys() == target.keys()
    assert all(torch.equal(online[k], target[k]) for k in online)
    trainable = {id(p) for p in model.trainable_parameters()}
    assert not any(id(p) in trainable for p in target.values())
    assert all(id(p) in trainable for p in online.values())
    model.train()
    out = model(episode())
    out["loss"].backward()
    assert all(p.grad is None for p in target.values())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in online.values())
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert {"loss", "acc", "embedding_std"} <= out.keys()


@pytest.mark.parametrize("name", METHODS)
def test_after_step_is_the_ema_formula_with_the_scheduled_momentum(name: str) -> None:
    model = method(name, momentum=0.9)
    model.train()
    model(episode())["loss"].backward()
    with torch.no_grad():  # move the online weights away from the target
        for p in model.trainable_parameters():
            p.add_(p.grad)
    pairs = list(zip(model.target_backbone.parameters(), model.backbone.parameters())) + list(
        zip(model.target_projector.parameters(), model.projector.parameters()))
    before = [(t.clone(), o.clone()) for t, o in pairs]
    m = MOMENTUM_SCHEDULES.get(model.momentum_schedule)(0.9, 3, 10)
    with torch.no_grad():
        model.after_step(3, 10)
    for (t, _), (t0, o0) in zip(pairs, before):
        assert torch.allclose(t, m * t0 + (1 - m) * o0, rtol=0, atol=1e-6)
    assert any(not torch.equal(t, t0) for (t, _), (t0, _) in zip(pairs, before))


class CrashingSampler:
    """The real sampler, raising KeyboardInterrupt (a simulated kill) on one seed."""

    def __init__(self, crash_seed: int) -> None:
        self.inner, self.crash_seed = sampler(), crash_seed
        self.kind, self.ways, self.shots, self.queries = "augment", self.inner.ways, 1, 1

    def sample(self, seed: int):
        if seed == self.crash_seed:
            raise KeyboardInterrupt("simulated kill")
        return self.inner.sample(seed)

    def sample_batch(self, seeds):
        return [self.sample(s) for s in seeds]


@pytest.mark.parametrize("name", METHODS)
def test_kill_and_resume_gives_the_uninterrupted_weights_target_and_queue(name: str, tmp_path: Path) -> None:
    cfg = TrainConfig(steps=10, optimizer="adam", lr=1e-3, schedule="cosine", checkpoint_every=4,
                      seed=3, device="cpu", progress=False, tensorboard=False)
    straight = method(name)
    initial = {k: v.clone() for k, v in straight.state_dict().items()}
    train(straight, sampler(), cfg, tmp_path / "a", model_spec=None)

    crashed = method(name)
    with pytest.raises(KeyboardInterrupt):
        train(crashed, CrashingSampler(episode_seed(cfg.seed, 6)), cfg, tmp_path / "b")
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 4
    resumed = method(name, seed=123)  # another initialisation: the checkpoint replaces it
    assert train(resumed, sampler(), cfg, tmp_path / "b").resumed_from == 4

    expected, actual = straight.state_dict(), resumed.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:  # online, target (weights, BN statistics), queue keys and pointer
        assert torch.equal(expected[key], actual[key]), key
    moved = [k for k in expected if k.startswith("target_") and expected[k].is_floating_point()
             and not torch.equal(expected[k], initial[k])]
    assert moved, "the target never moved"
    if "queue.keys" in expected:
        assert int(expected["queue.ptr"]) == 10 * 2 * 8 % len(expected["queue.keys"])
        assert not torch.equal(expected["queue.keys"], initial["queue.keys"])
