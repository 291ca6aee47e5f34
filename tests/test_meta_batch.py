"""The meta-batch (``trainer.meta_batch``): a step of M episodes follows the gradient of the mean
of the M single-episode losses; one episode a step is the trainer as it was (same episodes,
same job hash, and checkpoints written before the setting resume)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from benchmark.checkpoint import load_checkpoint, save_checkpoint
from benchmark.methods import ModelSpec
from benchmark.data import load_split
from benchmark.errors import BenchmarkError
from benchmark.samplers import build_sampler
from benchmark.spec.benchmark_spec import parse_spec
from benchmark.train import TrainConfig, episode_seed, step_seeds, train

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (1, 28, 28)
M = 3


def labels_sampler():
    return build_sampler("labels", load_split("omniglot", "background"), 3, 1, 2)


def fresh(spec: ModelSpec) -> torch.nn.Module:
    torch.manual_seed(0)
    return spec.build()


@pytest.mark.parametrize("name", ["protonet", "maml"])
def test_forward_batch_is_the_mean_of_the_episodes_losses(name: str) -> None:
    spec = ModelSpec(name, "conv4", SHAPE)
    episodes = labels_sampler().sample_batch([1, 2, 3])
    batched, looped = fresh(spec).train(), fresh(spec).train()
    out = batched.forward_batch(episodes)
    out["loss"].backward()
    losses = [looped(e) for e in episodes]
    (sum(o["loss"] for o in losses) / M).backward()
    assert torch.allclose(out["acc"], torch.stack([o["acc"] for o in losses]).mean())
    for (key, a), b in zip(batched.named_parameters(), looped.parameters()):
        assert (a.grad is None) == (b.grad is None), key
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), key


@pytest.mark.parametrize("name, params", [("protonet", {}), ("maml", {}),
                                          ("maml", {"inner_loop": "auto"})])
def test_a_training_step_follows_the_mean_gradient_of_its_episodes(name: str, params: dict,
                                                                    tmp_path: Path,
                                                                    capsys) -> None:
    """One SGD step of ``meta_batch`` M from the trainer equals a hand loop over the M
    episodes ``step_seeds`` names: the mean of their losses, one plain SGD update; with
    ``inner_loop: auto`` too, whichever path the trainer's probe chose (said first)."""
    spec = ModelSpec(name, "conv4", SHAPE, params)
    lr = 0.1
    cfg = TrainConfig(steps=1, optimizer="sgd", lr=lr, momentum=0.0, meta_batch=M, seed=5,
                      device="cpu", channels_last=False, progress=None, tensorboard=False)
    trained = fresh(spec)
    train(trained, labels_sampler(), cfg, tmp_path, model_spec=spec)
    said = capsys.readouterr().err
    assert ("train: inner loop " in said) == bool(params), said

    seeds = step_seeds(cfg.seed, 0, M)
    assert seeds[0] == episode_seed(cfg.seed, 0) and len(set(seeds)) == M
    by_hand = fresh(spec).train()
    before = {k: p.detach().clone() for k, p in by_hand.named_parameters()}
    sampler = labels_sampler()
    loss = sum(by_hand(sampler.sample(s))["loss"] for s in seeds) / M
    loss.backward()
    for key, value in trained.named_parameters():
        grad = dict(by_hand.named_parameters())[key].grad
        expected = before[key] - lr * grad if grad is not None else before[key]
        assert torch.allclose(value.detach(), expected, rtol=1e-4, atol=1e-6), key


def test_one_episode_a_step_draws_the_episodes_it_always_drew() -> None:
    assert [step_seeds(7, s, 1) for s in range(5)] == [[episode_seed(7, s)] for s in range(5)]
    assert step_seeds(7, 1, 2) == [episode_seed(7, 2), episode_seed(7, 3)]


SPEC = {
    "name": "metabatch", "device": "cpu",
    "train": {"dataset": "omniglot", "split": "background"},
    "trainer": {"steps": 2},
    "methods": [{"method": "protonet", "backbone": "conv4", "sampler": "labels",
                 "ways": 5, "shots": 1, "queries": 1}],
    "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
             "settings": [{"ways": 5, "shots": 1}], "episodes": 2, "queries": 1},
}


def test_the_job_hash_changes_only_with_a_meta_batch_of_several() -> None:
    """Stored rows of specs written before the setting stay valid: ``meta_batch: 1`` hashes as
    a spec without the key (the hash of this spec before the key: ``BEFORE``)."""
    plain = parse_spec(SPEC)
    one = parse_spec({**SPEC, "trainer": {"steps": 2, "meta_batch": 1}})
    two = parse_spec({**SPEC, "trainer": {"steps": 2, "meta_batch": 2}})
    assert plain.job_hash("protonet") == one.job_hash("protonet") == BEFORE
    assert two.job_hash("protonet") != plain.job_hash("protonet")
    assert two.method("protonet").trainer.meta_batch == 2


#: ``parse_spec(SPEC).job_hash("protonet")`` computed on the commit before ``meta_batch``.
BEFORE = "376a77d4c559382a"


def test_a_checkpoint_written_before_the_setting_resumes(tmp_path: Path) -> None:
    spec = ModelSpec("protonet", "conv4", SHAPE)
    cfg = TrainConfig(steps=2, seed=1, device="cpu", progress=False, tensorboard=False)
    train(fresh(spec), labels_sampler(), cfg, tmp_path, model_spec=spec)
    payload = load_checkpoint(tmp_path / "last.pt")
    del payload["config"]["meta_batch"]  # as written before the setting existed
    save_checkpoint(tmp_path / "last.pt", payload)
    assert train(fresh(spec), labels_sampler(), cfg, tmp_path, model_spec=spec).resumed_from == 2
    with pytest.raises(BenchmarkError, match="differs in meta_batch"):
        train(fresh(spec), labels_sampler(), TrainConfig(**{**cfg.to_dict(), "meta_batch": 2}),
              tmp_path, model_spec=spec)


@pytest.mark.parametrize("inner_loop", ["auto", "sequential", "vectorised", "threaded"])
def test_perf_maml_steps_say_what_auto_chose(inner_loop: str) -> None:
    from benchmark.perf.maml import meta_batch_step

    step, said = meta_batch_step("maml", load_split("omniglot", "background"), 5, 1, 2,
                                 inner_loop, torch.device("cpu"))
    step(0)
    if inner_loop == "auto":
        assert re.fullmatch(r"inner loop (sequential|vectorised|threaded) \(auto: the probe's "
                            r"steps vectorised \d+\.\d\dx, threaded \d+\.\d\dx the "
                            r"sequential one\)", said)
    else:
        assert said == ""
