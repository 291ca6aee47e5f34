"""The ``native`` head: each method's own adaptation (MAML/ANIL inner loop, R2-D2 ridge) on the
fixed episodes, batch norm on the support's statistics, refused for models without one; specs
with per-method heads (cells, job hashes, preflight) and a run end to end."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn
from torch.func import functional_call

from benchmark import runner
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.evaluation import evaluate, fixed_episodes, random_floor
from benchmark.heads import HEADS, check_head
from benchmark.methods import build_method
from benchmark.methods.adaptation import support_normalised
from benchmark.runner.cells import cells_of, heads_of
from benchmark.spec.benchmark_spec import parse_spec
from benchmark.store import Store
from fixtures_data import blob_split

SHAPE = (1, 28, 28)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def split() -> Split:
    return blob_split(8, 6, SHAPE, signal=0.6)


def trained_looking(name: str, **params) -> nn.Module:
    """A method whose batch-norm running statistics are far from the identity (train mode)."""
    torch.manual_seed(0)
    m = build_method(name, "conv4", SHAPE, **params)
    for module in m.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.2, 3.0)
    return m.train()


def test_support_normalised_uses_the_support_statistics_and_leaves_the_model(split: Split) -> None:
    m = trained_looking("maml")
    before = copy.deepcopy(m.state_dict())
    support = torch.rand(10, *SHAPE)
    clone = support_normalised(m, support)
    assert not clone.training and m.training
    first = clone.backbone.net[0][1]
    with torch.no_grad():
        activations = m.backbone.net[0][0](support)
    torch.testing.assert_close(first.running_mean, activations.mean((0, 2, 3)))
    torch.testing.assert_close(first.running_var, activations.var((0, 2, 3), unbiased=False))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    # in eval mode the copy embeds the support as train mode would (its own batch statistics)
    with torch.no_grad():
        torch.testing.assert_close(clone.embed(support), copy.deepcopy(m).train().embed(support),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, params", [("maml", {"eval_steps": 2}), ("anil", {}), ("r2d2", {})])
def test_native_is_the_methods_own_adaptation_on_each_support(split: Split, name: str,
                                                             params: dict) -> None:
    m = trained_looking(name, **params)
    episodes = list(fixed_episodes(split, 5, 1, 3, 4, seed=0))
    predictions = HEADS.build("native").predict(m, episodes)
    assert m.training  # back in the mode it was in
    for e, predicted in zip(episodes, predictions):
        model = support_normalised(m, e.support)
        if name == "r2d2":
            with torch.no_grad():
                expected = model.scores(model.embed(e.support), e.support_labels,
                                        model.embed(e.query), e.ways).argmax(1)
        elif name == "maml":  # the inner loop by hand, in train mode, then the adapted weights
            net = copy.deepcopy(m).train()  # normalised with the support's statistics
            adapted = maml_by_hand(net, e, steps=2)
            with torch.no_grad():
                for key, param in net.named_parameters():
                    param.copy_(adapted[key])
            model = support_normalised(net, e.support)
            with torch.no_grad():
                expected = model.classifier(model.embed(e.query), e.ways).argmax(1)
        else:
            with torch.no_grad():
                s, q = model.embed(e.support), model.embed(e.query)
            expected = model._adapted(s, e, 1, True)(q, e.ways).argmax(1)
        assert torch.equal(predicted, expected)


def maml_by_hand(net: nn.Module, e, steps: int) -> dict[str, torch.Tensor]:
    """``θ ← θ - lr ∇θ L_support(θ)``, ``steps`` times, by ``functional_call`` (train mode)."""
    params = {k: p.detach().requires_grad_() for k, p in net.named_parameters()}

    def loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        features = functional_call(net.backbone, {k[9:]: v for k, v in p.items()
                                                  if k.startswith("backbone.")}, (e.support,))
        logits = functional_call(net.classifier, {k[11:]: v for k, v in p.items()
                                                  if k.startswith("classifier.")},
                                 (features, e.ways))
        return torch.nn.functional.cross_entropy(logits, e.support_labels)

    for _ in range(steps):
        grads = torch.autograd.grad(loss(params), list(params.values()))
        params = {k: (v - net.inner_lr * g).detach().requires_grad_()
                  for (k, v), g in zip(params.items(), grads)}
    return params


def test_native_maml_adapts_away_from_the_initial_predictions(split: Split) -> None:
    """The inner loop does something: more inner steps fit the support better."""
    m = trained_looking("maml", inner_lr=0.5)
    episodes = list(fixed_episodes(split, 5, 3, 3, 4, seed=2))
    support_only = [dataclasses.replace(e, query=e.support, query_labels=e.support_labels,
                                        queries=e.shots) for e in episodes]
    one = evaluate(m, support_only, HEADS.build("native")).mean
    m.eval_steps = 10
    assert evaluate(m, support_only, HEADS.build("native")).mean > one


@pytest.mark.parametrize("model", ["protonet", "floor", "function"])
def test_native_is_refused_for_a_model_without_its_own_adaptation(split: Split, model: str) -> None:
    subject = {"protonet": lambda: build_method("protonet", "conv4", SHAPE),
               "floor": lambda: random_floor("conv4", SHAPE),
               "function": lambda: (lambda x: x.flatten(1))}[model]()
    with pytest.raises(BenchmarkError, match="head 'native' needs a method with an adaptation"):
        check_head("native", subject, 5, 1, 3)
    with pytest.raises(BenchmarkError, match="head 'native' needs"):
        evaluate(subject, fixed_episodes(split, 5, 1, 3, 2, seed=0), "native")
    check_head("prototype", subject, 5, 1, 3)  # the frozen-embedding heads take anything


def test_native_refuses_more_ways_than_the_classifier_has() -> None:
    m = build_method("maml", "conv4", SHAPE, ways=5)
    check_head("native", m, 5, 1, 15)
    with pytest.raises(BenchmarkError, match="5-way classifier.*20-way"):
        check_head("native", m, 20, 1, 15)
    check_head("native", build_method("r2d2", "conv4", SHAPE), 20, 5, 15)  # any N


# ---------------------------------------------------------------- specs and the runner


def spec_data(**maml: object) -> dict:
    return {
        "name": "native", "device": "cpu", "seeds": [0],
        "train": {"dataset": "omniglot", "split": "background"},
        "trainer": {"steps": 3, "checkpoint_every": 3},
        "methods": [
            {"label": "protonet", "method": "protonet", "backbone": "conv4", "sampler": "labels",
             "ways": 5, "shots": 1, "queries": 2},
            {"label": "maml", "method": "maml", "backbone": "conv4", "sampler": "labels",
             "ways": 5, "shots": 1, "queries": 2, **maml},
        ],
        "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
                 "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
                 "episodes": 4, "queries": 3, "seed": 0},
    }


def test_method_heads_add_cells_to_that_label_only() -> None:
    spec = parse_spec(spec_data(heads=["native", "prototype"]))
    assert heads_of(spec, "maml") == ("prototype", "native")
    assert heads_of(spec, "protonet") == heads_of(spec, "random") == ("prototype",)
    assert [c.head for c in cells_of(spec, "maml")] == ["prototype", "native"]
    assert [c.head for c in cells_of(spec)] == ["prototype"]


def test_no_heads_of_its_own_keeps_the_job_hash() -> None:
    """Existing jobs (stored before the key) keep their hashes; heads of its own change it
    (the first one picks the best checkpoint)."""
    plain, native = parse_spec(spec_data()), parse_spec(spec_data(heads=["native"]))
    assert plain.job_hash("maml") != native.job_hash("maml")
    assert "heads" not in plain.to_dict()["methods"][1] or plain.to_dict()["methods"][1]["heads"] == []
    assert plain.job_hash("protonet") == native.job_hash("protonet")


def test_head_episodes_may_name_a_method_head() -> None:
    data = spec_data(heads=["native"])
    data["eval"]["head_episodes"] = {"native": 2}
    spec = parse_spec(data)
    assert spec.eval.episodes_for("native") == 2
    data["eval"]["head_episodes"] = {"nativ": 2}
    with pytest.raises(BenchmarkError, match="nativ"):
        parse_spec(data)


def test_a_run_stores_native_rows_for_the_meta_learner_only(tmp_path: Path) -> None:
    data = spec_data(heads=["native"])
    data["eval"]["head_episodes"] = {"native": 3}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(data))
    runner.run_file(tmp_path / "spec.yaml", store_path=tmp_path / "store.sqlite",
                    runs_dir=tmp_path / "runs", report_dir=tmp_path / "report")
    with Store(tmp_path / "store.sqlite") as store:
        rows = store.results("native")
    heads = sorted((r.method, r.head, r.episodes) for r in rows)
    assert heads == [("maml", "native", 3), ("maml", "prototype", 4),
                     ("protonet", "prototype", 4), ("random", "prototype", 4)]
    assert all(0 <= r.accuracy <= 1 for r in rows)
    assert {r.method: (r.supervision, r.variant) for r in rows} == {  # what the report matches by
        "maml": ("labels", ""), "protonet": ("labels", ""), "random": ("", "")}
