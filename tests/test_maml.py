"""MAML and ANIL: the inner step against a hand computation, second-order gradients (and their
absence in first-order mode), the inner loop's reach, the classifier's ways, bad parameters.
(Exact resume of every meta-learner: tests/test_resume.py.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from training_helpers import SHAPE, template_episode as episode

from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.methods import build_method
from benchmark.methods.adaptation import Network

LR = 0.4

pytestmark = pytest.mark.usefixtures("one_thread")


def method(name: str, **params) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_method(name, "conv4", SHAPE, ways=5, inner_lr=LR, **params).eval()


def reference_outer_loss(m: torch.nn.Module, e: Episode, steps: int, first_order: bool) -> tuple[
        torch.Tensor, dict[str, torch.Tensor]]:
    """MAML's query loss by hand, with ``torch.func``: ``θ' = θ - lr ∇θ L_support(θ)`` per step
    (the gradient detached in first-order mode), then ``L_query(θ')``; and the adapted weights."""
    net = Network(m.backbone, m.classifier)
    params = dict(net.named_parameters())
    adapted = params
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(net, adapted, (e.support, e.ways)), e.support_labels)
        grads = torch.autograd.grad(loss, list(adapted.values()), create_graph=not first_order)
        adapted = {k: p - LR * (g.detach() if first_order else g)
                   for (k, p), g in zip(adapted.items(), grads)}
    return F.cross_entropy(functional_call(net, adapted, (e.query, e.ways)), e.query_labels), adapted


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_adapted_weights_equal_a_hand_computation(steps: int) -> None:
    m, e = method("maml", inner_steps=steps), episode()
    learner = m._adapted(e, steps, first_order=False)
    _, expected = reference_outer_loss(m, e, steps, first_order=False)
    actual = dict(learner.module.named_parameters())  # the l2l wrapper's clone
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-5, atol=1e-6)
    # every weight of the network moved (MAML adapts all of them)
    initial = dict(Network(m.backbone, m.classifier).named_parameters())
    assert all(not torch.equal(actual[k], initial[k]) for k in initial)


def test_one_inner_step_of_the_classifier_is_the_closed_form_gradient_step() -> None:
    """ANIL, features ``f`` fixed: ``∇W = (softmax(W f + b) - onehot(y))ᵀ f / S``."""
    m, e = method("anil"), episode()
    with torch.no_grad():
        features = m.embed(e.support)
    learner = m._adapted(features, e, 1, first_order=False)
    weight, bias = m.classifier.linear.weight[: e.ways], m.classifier.linear.bias[: e.ways]
    with torch.no_grad():
        residual = (features @ weight.T + bias).softmax(1) - F.one_hot(e.support_labels, e.ways)
        expected_w = weight - LR * residual.T @ features / len(features)
        expected_b = bias - LR * residual.mean(0)
    torch.testing.assert_close(learner.module.linear.weight[: e.ways], expected_w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(learner.module.linear.bias[: e.ways], expected_b, rtol=1e-5, atol=1e-6)
    # the rows of the classes the episode does not have get no gradient
    assert torch.equal(learner.module.linear.weight[e.ways:], m.classifier.linear.weight[e.ways:])


def _gradients(m: torch.nn.Module, e: Episode) -> dict[str, torch.Tensor]:
    m.zero_grad()
    m(e)["loss"].backward()
    return {k: p.grad.clone() for k, p in m.named_parameters()}


def test_second_order_gradients_reach_the_initial_weights() -> None:
    m, e = method("maml"), episode()
    got = _gradients(m, e)
    loss, _ = reference_outer_loss(m, e, 1, first_order=False)
    names = [k for k, _ in m.named_parameters()]
    expected = dict(zip(names, torch.autograd.grad(loss, list(m.parameters()))))
    first = dict(zip(names, torch.autograd.grad(reference_outer_loss(m, e, 1, True)[0],
                                                list(m.parameters()))))
    for key in names:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-7)
    # the second-order term is there: the gradient is not the first-order one
    assert any(not torch.allclose(got[k], first[k], rtol=1e-3, atol=1e-6) for k in names)


@pytest.mark.parametrize("name", ["maml", "anil"])
def test_first_order_mode_drops_the_second_order_term(name: str) -> None:
    """First order: the initial weights get the query loss's gradient at the adapted weights,
    as if the inner update were a constant shift; second order differs from it."""
    e = episode()
    fo, so = method(name, first_order=True), method(name)
    got_fo, got_so = _gradients(fo, e), _gradients(so, e)
    if name == "maml":
        loss, adapted = reference_outer_loss(fo, e, 1, first_order=True)
        grads = torch.autograd.grad(loss, list(adapted.values()))
        at_adapted = dict(zip(adapted, grads))
        for key, grad in at_adapted.items():
            torch.testing.assert_close(got_fo[key], grad, rtol=1e-4, atol=1e-7)
    classifier = [k for k in got_fo if k.startswith("classifier.")]
    assert any(not torch.allclose(got_fo[k], got_so[k], rtol=1e-3, atol=1e-6) for k in classifier)


def test_anil_inner_loop_leaves_the_backbone_alone() -> None:
    m, e = method("anil"), episode()
    with torch.no_grad():
        features = m.embed(e.support)
    learner = m._adapted(features, e, 3, first_order=False)
    assert {k for k, _ in learner.module.named_parameters()} == {"linear.weight", "linear.bias"}
    # yet the outer loss trains the backbone
    assert all(g.abs().sum() > 0 for k, g in _gradients(m, e).items() if k.startswith("backbone."))


def test_the_model_is_not_changed_by_a_forward() -> None:
    m, e = method("maml"), episode()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m(e)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # eval mode


def test_a_classifier_serves_fewer_ways_and_refuses_more() -> None:
    m = method("maml")
    assert m(episode(ways=5))["loss"].requires_grad
    assert m(episode(ways=2))["acc"] >= 0
    with pytest.raises(BenchmarkError, match="5-way classifier.*6-way"):
        m(episode(ways=6))


@pytest.mark.parametrize("name", ["maml", "anil"])
@pytest.mark.parametrize("params, message", [
    ({"inner_steps": 0}, "inner_steps must be a whole number >= 1, got 0"),
    ({"inner_steps": -3}, "inner_steps must be a whole number >= 1, got -3"),
    ({"inner_steps": 1.5}, "inner_steps must be a whole number"),
    ({"inner_steps": True}, "inner_steps must be a whole number"),
    ({"inner_lr": 0.0}, "inner_lr must be > 0, got 0.0"),
    ({"inner_lr": -0.5}, "inner_lr must be > 0, got -0.5"),
    ({"eval_steps": -1}, "eval_steps must be a whole number >= 0"),
    ({"ways": 0}, "ways must be a whole number >= 1"),
])
def test_bad_inner_loop_settings_are_refused(name: str, params: dict, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        build_method(name, "conv4", SHAPE, **params)


def test_maml_trains_on_augmentation_episodes_as_umtra() -> None:
    m = method("maml")
    out = m(episode(ways=4, shots=1, queries=1, kind="augment"))
    assert torch.isfinite(out["loss"])
    with pytest.raises(BenchmarkError, match="cannot train on 'patches'"):
        m(episode(ways=4, shots=1, queries=1, kind="patches"))


@pytest.mark.parametrize("name", ["maml", "anil"])
def test_the_variant_says_first_order(name: str) -> None:
    """What a row stores so that the report sets first-order MAML against its own published row."""
    assert method(name).variant == "" and method(name, first_order=True).variant == "first_order"
    assert build_method("protonet", "conv4", SHAPE).variant == ""
