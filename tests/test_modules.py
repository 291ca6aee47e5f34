"""Reusable method parts: the projection MLPs, frozen copies and the momentum (EMA) update."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.methods import build_method
from benchmark.modules import BatchNormMLP, ProjectionMLP, frozen_copy, update_momentum
from benchmark.modules.projector import build_projector


def small_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_projection_mlp_maps_in_dim_to_out_dim() -> None:
    torch.manual_seed(0)
    mlp = ProjectionMLP(8, 16, 4)
    assert mlp(torch.rand(5, 8)).shape == (5, 4)
    assert list(mlp.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert mlp[0].weight.shape == (16, 8) and mlp[2].weight.shape == (4, 16)


def test_frozen_copy_is_an_equal_independent_module_without_gradients() -> None:
    online = small_net(0)
    target = frozen_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    for a, b in zip(online.state_dict().values(), target.state_dict().values()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


@pytest.mark.parametrize("m", [0.0, 0.5, 0.99, 1.0])
def test_update_momentum_follows_its_formula(m: float) -> None:
    online, target = small_net(0), frozen_copy(small_net(1))
    before = [p.clone() for p in target.parameters()]
    buffers = [b.clone() for b in target.buffers()]
    online.state_dict()["1.running_mean"].add_(1.0)  # buffers are not averaged
    update_momentum(target, online, m)
    for t, t0, o in zip(target.parameters(), before, online.parameters()):
        assert torch.allclose(t, m * t0 + (1 - m) * o, rtol=0, atol=1e-7)
    if m == 1.0:
        assert all(torch.equal(t, t0) for t, t0 in zip(target.parameters(), before))
    if m == 0.0:
        assert all(torch.equal(t, o) for t, o in zip(target.parameters(), online.parameters()))
    assert all(torch.equal(b, b0) for b, b0 in zip(target.buffers(), buffers))
    assert all(p.grad is None for p in online.parameters())


def test_update_momentum_refuses_bad_momentum_and_mismatched_modules() -> None:
    with pytest.raises(ValueError, match="momentum must be in"):
        update_momentum(small_net(0), small_net(1), 1.5)
    with pytest.raises(ValueError, match="different parameters"):
        update_momentum(small_net(0), nn.Linear(4, 3), 0.9)


@pytest.mark.parametrize("name, out_bn", [("mlp_bn", False), ("mlp_bn_out", True)])
def test_batchnorm_projectors_have_batchnorm_where_their_papers_put_it(name: str, out_bn: bool) -> None:
    projector = build_projector(name, 8, 16, 4)
    assert isinstance(projector, BatchNormMLP)
    norms = [m for m in projector if isinstance(m, nn.BatchNorm1d)]
    assert [n.num_features for n in norms] == ([16, 4] if out_bn else [16])
    linears = [m for m in projector if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(8, 16), (16, 4)]
    assert linears[0].bias is None and (linears[1].bias is None) == out_bn
    projector.train()
    out = projector(torch.rand(5, 8))
    assert out.shape == (5, 4)
    if out_bn:  # a last BatchNorm in training: each output feature has batch mean 0
        assert torch.allclose(out.mean(0), torch.zeros(4), atol=1e-5)


@pytest.mark.parametrize("method", ["simclr", "moco", "byol", "psco"])
def test_default_projector_is_still_the_plain_mlp(method: str) -> None:
    """The BatchNorm projectors are options: every method's default stays today's."""
    model = build_method(method, "conv4", (1, 28, 28), projector_dim=32)
    assert type(model.projector) is ProjectionMLP
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.projector.modules())


def test_a_momentum_method_trains_with_a_batchnorm_projector() -> None:
    model = build_method("byol", "conv4", (1, 28, 28), projector="mlp_bn", projector_dim=16,
                         projector_hidden=32, predictor_hidden=32)
    assert isinstance(model.projector, BatchNormMLP) and isinstance(model.target_projector, BatchNormMLP)
    g = torch.Generator().manual_seed(0)
    episode = Episode(support=torch.rand(4, 1, 28, 28, generator=g), support_labels=torch.arange(4),
                      query=torch.rand(4, 1, 28, 28, generator=g), query_labels=torch.arange(4),
                      class_ids=torch.arange(4), ways=4, shots=1, queries=1, kind="augment", seed=0,
                      offers=frozenset({"classes", "instances"}))
    out = model(episode)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.projector[1].weight.grad is not None
