"""MoCo: its loss against a hand-written loop on a constructed queue, the keys it enqueues, and
its refusal of a queue that does not hold whole steps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.losses import queue_infonce

from fixtures_data import WAYS, episode, method

pytestmark = pytest.mark.usefixtures("one_thread")


def hand_written_moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor,
                           tau: float) -> tuple[float, float]:
    """Per query: -log(exp(q·k/τ) / (exp(q·k/τ) + Σ_j exp(q·queue_j/τ))), in plain Python."""
    total, hits = 0.0, 0
    for i in range(len(q)):
        qi = [float(x) for x in q[i] / q[i].norm()]
        pos = sum(a * b for a, b in zip(qi, k[i].tolist())) / tau
        negs = [sum(a * b for a, b in zip(qi, key.tolist())) / tau for key in queue]
        total += -pos + math.log(math.exp(pos) + sum(math.exp(n) for n in negs))
        hits += pos > max(negs)
    return total / len(q), hits / len(q)


def test_queue_infonce_matches_a_hand_written_loop() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(6, 4, generator=g, dtype=torch.float64)  # normalised inside the loss
    k = F.normalize(q + 0.5 * torch.randn(6, 4, generator=g, dtype=torch.float64), dim=1)
    # a constructed queue: the negated keys, axis vectors and one near-copy of query 0
    queue = torch.cat([-k, torch.eye(4, dtype=torch.float64),
                       F.normalize(q[:1] + 0.01, dim=1)])
    for tau in (0.07, 0.2, 1.0):
        loss, acc = queue_infonce(q, k, queue, tau)
        expected_loss, expected_acc = hand_written_moco_loss(q, k, queue, tau)
        assert float(loss) == pytest.approx(expected_loss, rel=1e-10)
        assert float(acc) == pytest.approx(expected_acc)
    assert not acc.requires_grad


def test_moco_loss_uses_its_queue_and_the_other_views_keys() -> None:
    model = method("moco", temperature=0.5)
    model.train()
    ep = episode(1)
    torch.manual_seed(5)
    model.queue.keys.copy_(F.normalize(torch.randn_like(model.queue.keys), dim=1))
    out = model(ep)
    x1, x2 = model.views(ep)
    both = torch.cat([x1, x2])
    online = model.projector(model.backbone(both))
    with torch.no_grad():
        target = F.normalize(model.target_projector(model.target_backbone(both)), dim=1)
    l12, _ = hand_written_moco_loss(online[:WAYS].detach().double(), target[WAYS:].double(),
                                    model.queue.keys.double(), 0.5)
    l21, _ = hand_written_moco_loss(online[WAYS:].detach().double(), target[:WAYS].double(),
                                    model.queue.keys.double(), 0.5)
    assert float(out["loss"].detach()) == pytest.approx((l12 + l21) / 2, rel=1e-4)


def test_after_step_enqueues_the_steps_keys_newest_last() -> None:
    model = method("moco")
    model.train()
    ep = episode(2)
    before = model.queue.ordered().clone()
    model(ep)
    x1, x2 = model.views(ep)
    with torch.no_grad():
        target = F.normalize(model.target_projector(model.target_backbone(torch.cat([x1, x2]))), dim=1)
        model.after_step(1, 10)
    keys = 2 * WAYS
    after = model.queue.ordered()
    assert torch.equal(after[:-keys], before[keys:])  # the oldest keys went out
    assert torch.allclose(after[-keys:], torch.cat([target[WAYS:], target[:WAYS]]), atol=1e-6)
    assert int(model.queue.ptr) == keys


def test_the_queue_must_hold_whole_steps() -> None:
    model = method("moco", queue_size=40)
    with pytest.raises(BenchmarkError, match=r"queue_size 40 is not a multiple of the 16 keys"):
        model.check(episode())
    method("moco", queue_size=48).check(episode())
    method("moco", queue_size=40, symmetric=False).check(episode())  # 8 keys


@pytest.mark.parametrize("params,words", [
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"momentum": -0.5}, r"momentum must be in \[0, 1\)"),
    ({"projector_dim": 0}, "projector_dim must be > 0"),
    ({"queue_size": 0}, "queue_size must be > 0"),
    ({"temperature": 0}, "temperature must be > 0"),
    ({"momentum_schedule": "linear"}, "linear"),
])
def test_bad_hyper_parameters_are_refused(params: dict, words: str) -> None:
    with pytest.raises(BenchmarkError, match=words):
        method("moco", **params)
