"""BYOL: the loss formula, no gradient into the target, and a healthy collapse metric over a
short training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.losses import byol_loss

from fixtures_data import episode, method

pytestmark = pytest.mark.usefixtures("one_thread")


def test_byol_loss_is_two_minus_two_cosine() -> None:
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = sum(2 - 2 * float(p[i] @ z[i]) / float(p[i].norm() * z[i].norm()) for i in range(5)) / 5
    assert float(byol_loss(p, z)) == pytest.approx(expected, rel=1e-6)
    assert float(byol_loss(p, 3 * p)) == pytest.approx(0.0, abs=1e-6)
    assert float(byol_loss(p, -p)) == pytest.approx(4.0, abs=1e-6)


def test_target_receives_no_gradient_and_the_predictor_does() -> None:
    model = method("byol")
    model.train()
    out = model(episode())
    out["loss"].backward()
    targets = list(model.target_backbone.parameters()) + list(model.target_projector.parameters())
    assert targets and all(p.grad is None and not p.requires_grad for p in targets)
    assert all(p.grad is not None for p in model.predictor.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_embedding_std_stays_healthy_over_a_short_training() -> None:
    """No negatives: nothing but the predictor and the slow target hold collapse off. Over 40
    Adam steps the features' spread (``embedding_std``) stays well away from 0, while the loss
    falls."""
    model = method("byol")
    model.train()
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-3)
    stds, losses = [], []
    for step in range(1, 41):
        out = model(episode(step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        with torch.no_grad():
            model.after_step(step, 40)
        stds.append(float(out["embedding_std"]))
        losses.append(float(out["loss"].detach()))
    assert min(stds[-10:]) > 0.25 * stds[0], stds
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10, losses
    with torch.no_grad():
        model.eval()
        features = model.embed(episode(99).support)
    assert float(F.normalize(features, dim=1).std(0).mean()) > 0.01


def test_byol_needs_a_predictor() -> None:
    with pytest.raises(BenchmarkError, match="predictor_hidden must be > 0"):
        method("byol", predictor_hidden=0)
