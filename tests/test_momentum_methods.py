"""What MoCo, BYOL and PsCo share (``benchmark.methods.momentum_base``): the EMA target is out of the
optimiser and gets no gradient, and ``after_step`` applies the scheduled EMA. (Exact resume,
target and queue included: tests/test_resume.py.)"""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods.momentum_base import VIEW_BATCHING
from benchmark.modules import MOMENTUM_SCHEDULES

from fixtures_data import PARAMS, episode, method

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


@pytest.mark.parametrize("name", METHODS)
def test_view_batching_says_which_batch_batchnorm_sees(name: str) -> None:
    ep = episode()
    features = {b: method(name, view_batching=b).train().embed_and_loss(ep)[0]
                for b in VIEW_BATCHING}
    model = method(name).train()
    x1, x2 = model.views(ep)
    with torch.no_grad():
        each_alone = torch.cat([model.backbone(x1), model.backbone(x2)])
        both_at_once = model.backbone(torch.cat([x1, x2]))
    torch.testing.assert_close(features["separate"], each_alone)
    torch.testing.assert_close(features["joint"], both_at_once)
    assert not torch.allclose(each_alone, both_at_once, atol=1e-3)
    with pytest.raises(BenchmarkError, match="view_batching must be one of joint, separate"):
        method(name, view_batching="apart")
