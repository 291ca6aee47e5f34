"""R2-D2: the closed-form ridge against ``torch.linalg.lstsq`` with the ridge term (both the
primal and the Woodbury form), the episode loss by hand, gradients through the solve to λ,
the scale and the backbone, bad parameters."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods import build_method
from benchmark.methods.r2d2 import ridge_solve
from training_helpers import SHAPE, template_episode as episode

pytestmark = pytest.mark.usefixtures("one_thread")


def lstsq_ridge(x: torch.Tensor, y: torch.Tensor, ridge: float) -> torch.Tensor:
    """argmin |XW - Y|² + λ|W|² as an ordinary least-squares problem: ``[X; √λ I] W ≈ [Y; 0]``."""
    dim = x.shape[1]
    a = torch.cat([x, math.sqrt(ridge) * torch.eye(dim, dtype=x.dtype)])
    b = torch.cat([y, torch.zeros(dim, y.shape[1], dtype=y.dtype)])
    return torch.linalg.lstsq(a, b).solution


@pytest.mark.parametrize("samples, dim", [(5, 64), (20, 64), (100, 64), (64, 64)])
@pytest.mark.parametrize("ridge", [1e-2, 1.0, 50.0])
def test_ridge_solve_equals_lstsq_with_the_ridge_term(samples: int, dim: int, ridge: float) -> None:
    """Fewer samples than dimensions: the Woodbury (dual) form; else the primal: same weights."""
    g = torch.Generator().manual_seed(samples)
    x = torch.randn(samples, dim, generator=g, dtype=torch.float64)
    y = F.one_hot(torch.arange(samples) % 5, 5).double()
    torch.testing.assert_close(ridge_solve(x, y, ridge), lstsq_ridge(x, y, ridge), rtol=1e-8,
                               atol=1e-10)


def test_the_episode_loss_is_the_scaled_ridge_cross_entropy() -> None:
    torch.manual_seed(0)
    m = build_method("r2d2", "conv4", SHAPE, ridge=2.0, scale=7.0).eval()
    e = episode(ways=3, shots=2, queries=2)
    out = m(e)
    with torch.no_grad():
        support, query = m.embed(e.support).double(), m.embed(e.query).double()
    weights = lstsq_ridge(support, F.one_hot(e.support_labels, 3).double(), 2.0)
    expected = F.cross_entropy(7.0 * query @ weights, e.query_labels)
    torch.testing.assert_close(out["loss"].double(), expected, rtol=1e-4, atol=1e-6)
    assert out["ridge"].item() == pytest.approx(2.0) and out["scale"].item() == pytest.approx(7.0)


def test_gradients_flow_through_the_solve_to_ridge_scale_and_backbone() -> None:
    torch.manual_seed(0)
    m = build_method("r2d2", "conv4", SHAPE)
    m(episode())["loss"].backward()
    assert m.log_ridge.grad.abs() > 0 and m.scale.grad.abs() > 0
    assert all(p.grad.abs().sum() > 0 for p in m.backbone.parameters())
    # against a finite difference in log λ (float64, eval mode: no batch statistics)
    m = m.double().eval()
    e = episode()
    e = dataclasses.replace(e, support=e.support.double(), query=e.query.double())
    m.zero_grad()
    m(e)["loss"].backward()
    step = 1e-5
    with torch.no_grad():
        m.log_ridge += step
        up = m(e)["loss"].item()
        m.log_ridge -= 2 * step
        down = m(e)["loss"].item()
    assert m.log_ridge.grad.item() == pytest.approx((up - down) / (2 * step), rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("params, message", [
    ({"ridge": 0.0}, "ridge must be > 0"), ({"ridge": -1.0}, "ridge must be > 0"),
    ({"scale": 0.0}, "scale must be > 0"),
])
def test_bad_parameters_are_refused(params: dict, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        build_method("r2d2", "conv4", SHAPE, **params)
