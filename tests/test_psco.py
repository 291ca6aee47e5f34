"""PsCo: Sinkhorn's plan is doubly stochastic, the pseudo-supervised loss against a hand-written
loop, shots picked from the queue by the plan, and the total loss (MoCo + pseudo)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods import method_params
from benchmark.losses import pseudo_supcon, queue_infonce
from benchmark.modules import sinkhorn

from fixtures_data import WAYS, episode, method

pytestmark = pytest.mark.usefixtures("one_thread")


PSCO = method_params("psco")


@pytest.mark.parametrize("n,m,iterations", [
    (64, 64, PSCO["sinkhorn_iterations"]), (32, 512, PSCO["sinkhorn_iterations"]),
    (128, 4096, PSCO["sinkhorn_iterations"]),
    (5, 5, 1000),  # a tiny square plan of peaked scores converges slowly
])
@pytest.mark.parametrize("epsilon", [PSCO["sinkhorn_epsilon"], 0.5])
def test_sinkhorn_plan_is_doubly_stochastic(n: int, m: int, iterations: int, epsilon: float) -> None:
    g = torch.Generator().manual_seed(n + m)
    keys = F.normalize(torch.randn(n, 16, generator=g), dim=1)
    queue = F.normalize(torch.randn(m, 16, generator=g), dim=1)
    plan = sinkhorn(keys @ queue.T, epsilon, iterations)
    assert plan.shape == (n, m) and (plan >= 0).all()
    assert torch.allclose(plan.sum(1) * n, torch.ones(n), rtol=0, atol=1e-4)  # rows: 1/N each
    assert torch.allclose(plan.sum(0) * m, torch.ones(m), rtol=0, atol=1e-4)  # columns: 1/M each
    if n == m:  # N * plan is doubly stochastic
        assert torch.allclose((n * plan).sum(0), torch.ones(n), atol=1e-4)
        assert torch.allclose((n * plan).sum(1), torch.ones(n), atol=1e-4)


def test_sinkhorn_is_the_scaling_of_exp_scores() -> None:
    """The plan is diag(u) exp(S / ε) diag(v): its log minus S / ε is a sum of a row and a
    column term, and a constant added to a row of S changes nothing."""
    g = torch.Generator().manual_seed(3)
    scores = torch.rand(6, 9, generator=g, dtype=torch.float64) * 2 - 1
    plan = sinkhorn(scores, 0.5)
    residual = plan.double().log() - scores / 0.5
    rank_one = residual - residual[:, :1] - residual[:1, :] + residual[0, 0]
    assert rank_one.abs().max() < 1e-4
    shifted = scores + torch.arange(6, dtype=torch.float64)[:, None]
    assert torch.allclose(sinkhorn(shifted, 0.5), plan, atol=1e-6)


def test_pseudo_supcon_matches_a_hand_written_loop() -> None:
    g = torch.Generator().manual_seed(0)
    n, k, d, tau = 4, 3, 5, 0.7
    q = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    shots = F.normalize(torch.randn(n, k, d, generator=g, dtype=torch.float64), dim=2)
    loss, acc = pseudo_supcon(q, shots, tau)
    total, hits = 0.0, 0
    for i in range(n):
        logits = [[float(q[i] @ shots[j, s]) / tau for s in range(k)] for j in range(n)]
        log_z = math.log(sum(math.exp(x) for row in logits for x in row))
        total += sum(log_z - logits[i][s] for s in range(k)) / k  # mean over i's positives
        means = [float(q[i] @ shots[j].mean(0)) for j in range(n)]
        hits += max(range(n), key=means.__getitem__) == i
    assert float(loss) == pytest.approx(total / n, rel=1e-10)
    assert float(acc) == pytest.approx(hits / n)


def test_shots_are_the_queue_keys_the_plan_gives_each_key() -> None:
    """A queue holding two noisy copies of each of 8 keys (and 48 unrelated keys): the
    balanced plan gives each key its own copies."""
    model = method("psco", queue_size=64, num_shots=2)
    g = torch.Generator().manual_seed(1)
    keys = F.normalize(torch.randn(WAYS, model.key_dim, generator=g), dim=1)
    copies = F.normalize(keys.repeat(2, 1) + 0.05 * torch.randn(2 * WAYS, model.key_dim, generator=g), dim=1)
    rest = F.normalize(torch.randn(64 - 2 * WAYS, model.key_dim, generator=g), dim=1)
    model.queue.keys.copy_(torch.cat([rest, copies]))
    shots = model.pseudo_shots(keys)
    assert shots.shape == (WAYS, 2, model.key_dim)
    for i in range(WAYS):
        expected = {64 - 2 * WAYS + i, 64 - WAYS + i}
        picked = {int((model.queue.keys == s).all(1).nonzero()) for s in shots[i]}
        assert picked == expected


def test_psco_loss_is_moco_plus_the_pseudo_loss() -> None:
    model = method("psco", queue_size=64, num_shots=2, symmetric=False)
    model.train()
    ep = episode(4)
    out = model(ep)
    x1, x2 = model.views(ep)
    both = torch.cat([x1, x2])
    with torch.no_grad():
        query = F.normalize(model.predictor(model.projector(model.backbone(both))), dim=1)[:WAYS]
        key = F.normalize(model.target_projector(model.target_backbone(both)), dim=1)[WAYS:]
        moco, _ = queue_infonce(query, key, model.queue.keys, model.temperature)
        pseudo, _ = pseudo_supcon(query, model.pseudo_shots(key), model.shot_temperature)
    assert float(out["moco_loss"]) == pytest.approx(float(moco), rel=1e-4)
    assert float(out["pseudo_loss"]) == pytest.approx(float(pseudo), rel=1e-4)
    assert float(out["loss"].detach()) == pytest.approx(float(moco + pseudo), rel=1e-4)


def test_psco_refusals() -> None:
    with pytest.raises(BenchmarkError, match="num_shots 80 is more than the queue_size 64"):
        method("psco", queue_size=64, num_shots=80)
    with pytest.raises(BenchmarkError, match="queue_size 72 is not a multiple of the 16 keys"):
        method("psco", queue_size=72).check(episode())
    with pytest.raises(BenchmarkError, match="sinkhorn_epsilon must be > 0"):
        method("psco", sinkhorn_epsilon=0.0)
