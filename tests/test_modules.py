"""Reusable method parts: the projection MLP, frozen copies and the momentum (EMA) update."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.modules import ProjectionMLP, frozen_copy, update_momentum


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
