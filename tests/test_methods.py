"""Methods: the interface, gradients, trainable parameters, determinism, the ProtoCLR ↔ NT-Xent
relation, SimCLR's projector, collapse, bad input."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from training_helpers import offers_of, two_view_nt_xent as nt_xent

from benchmark.backbones import build_backbone
from benchmark.episodes.episode import Episode, TaskShape
from benchmark.errors import BenchmarkError
from benchmark.methods import METHODS, Method, ModelSpec, build_method, method_params
from benchmark.modules import ProjectionMLP

SHAPE = (1, 16, 16)


pytestmark = pytest.mark.usefixtures("one_thread")


def make_episode(kind: str, ways: int = 4, shots: int = 2, queries: int = 2, seed: int = 0) -> Episode:
    """A class-major episode of random images (labels 0..ways-1)."""
    g = torch.Generator().manual_seed(seed)
    return Episode(
        support=torch.rand(ways * shots, *SHAPE, generator=g),
        support_labels=torch.arange(ways).repeat_interleave(shots),
        query=torch.rand(ways * queries, *SHAPE, generator=g),
        query_labels=torch.arange(ways).repeat_interleave(queries),
        class_ids=torch.arange(ways),
        ways=ways,
        shots=shots,
        queries=queries,
        kind=kind,
        seed=seed,
        offers=offers_of(kind),
    )


def views_episode(images: torch.Tensor, g: torch.Generator, step: int, noise: float = 0.1) -> Episode:
    """An augmentation episode by hand: two views (random flip + noise) of each image, 1 shot 1 query."""

    def view() -> torch.Tensor:
        flip = torch.rand(len(images), 1, 1, 1, generator=g) < 0.5
        x = torch.where(flip, images.flip(-1), images)
        return (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)

    ids = torch.arange(len(images))
    return Episode(view(), ids, view(), ids, ids, len(images), 1, 1, "augment", step,
                   offers_of("augment"))


def some_kind(name: str) -> str:
    return sorted(METHODS.get(name).accepted_kinds())[0]


#: The methods that train (``pretrained`` is evaluated as it is: tests/test_pretrained.py).
TRAINING = [name for name in METHODS.names() if METHODS.get(name).trains]


@pytest.mark.parametrize("name", TRAINING)
def test_forward_returns_loss_acc_and_spread(name: str) -> None:
    torch.manual_seed(0)
    method = build_method(name, "conv4", SHAPE)
    out = method(make_episode(some_kind(name)))
    assert out["loss"].dim() == 0 and out["loss"].requires_grad and torch.isfinite(out["loss"])
    assert out["acc"].dim() == 0 and not out["acc"].requires_grad and 0.0 <= out["acc"].item() <= 1.0
    assert out["embedding_std"].item() > 0
    embedding = method.embed(torch.rand(3, *SHAPE))
    assert embedding.shape == (3, method.backbone.out_dim)


@pytest.mark.parametrize("name", TRAINING)
def test_gradient_reaches_every_trainable_parameter(name: str) -> None:
    torch.manual_seed(0)
    method = build_method(name, "conv4", SHAPE)
    trainable = {id(p) for p in method.trainable_parameters()}
    assert trainable
    method(make_episode(some_kind(name)))["loss"].backward()
    missing = [
        n for n, p in method.named_parameters()
        if id(p) in trainable and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not missing


@pytest.mark.parametrize("name", TRAINING)
def test_one_training_step_is_deterministic(name: str) -> None:
    def step() -> list[torch.Tensor]:
        torch.manual_seed(123)
        method = build_method(name, "conv4", SHAPE)
        optimizer = torch.optim.Adam(method.parameters(), lr=1e-3)
        method(make_episode(some_kind(name)))["loss"].backward()
        optimizer.step()
        return [p.detach().clone() for p in method.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(step(), step()))


@pytest.mark.parametrize("name", METHODS.names())
def test_model_spec_rebuilds_the_same_architecture(name: str) -> None:
    method = build_method(name, "conv4", SHAPE)
    spec = method.model_spec
    assert spec == ModelSpec(name, "conv4", SHAPE) and ModelSpec.from_dict(spec.to_dict()) == spec
    rebuilt = spec.build()
    rebuilt.load_state_dict(method.state_dict())


def test_protoclr_loss_is_query_half_of_nt_xent_without_same_side_negatives() -> None:
    torch.manual_seed(0)
    tau = 0.3
    method = build_method("protoclr", "conv4", SHAPE, distance="cosine", temperature=tau)
    g = torch.Generator().manual_seed(1)
    episode = views_episode(torch.rand(6, *SHAPE, generator=g), g, 0)
    method.eval()  # the same BN statistics for both computations
    loss = method(episode)["loss"]
    with torch.no_grad():
        support, query = method.embed(episode.support), method.embed(episode.query)
    half, _ = nt_xent(support, query, tau, same_side_negatives=False, symmetric=False)
    assert torch.allclose(loss, half, atol=1e-6)
    full, _ = nt_xent(support, query, tau)
    assert not torch.allclose(loss, full, atol=1e-3)


def test_simclr_on_two_view_episode_is_nt_xent_through_the_projector() -> None:
    torch.manual_seed(0)
    method = build_method("simclr", "conv4", SHAPE, temperature=0.2).eval()
    g = torch.Generator().manual_seed(2)
    episode = views_episode(torch.rand(5, *SHAPE, generator=g), g, 0)
    with torch.no_grad():
        loss = method(episode)["loss"]
        project = method.projector
        expected, _ = nt_xent(project(method.embed(episode.support)), project(method.embed(episode.query)), 0.2)
    assert torch.allclose(loss, expected, atol=1e-6)


def test_simclr_embed_does_not_use_the_projector() -> None:
    method = build_method("simclr", "conv4", SHAPE, projector_dim=32)
    x = torch.rand(2, *SHAPE)
    assert torch.equal(method.embed(x), method.backbone(x))
    assert method.embed(x).shape[1] == method.backbone.out_dim != 32


@pytest.mark.parametrize("projector, size", [("mlp", 32), ("linear", 32), ("none", None)])
def test_simclr_projector_choices_and_embedding_after_it(projector: str, size: int | None) -> None:
    before = build_method("simclr", "conv4", SHAPE, projector=projector, projector_dim=32)
    after = build_method("simclr", "conv4", SHAPE, projector=projector, projector_dim=32,
                         embed_from="projector")
    after.load_state_dict(before.state_dict())
    x = torch.rand(3, *SHAPE)
    features = before.backbone(x)
    assert torch.equal(before.embed(x), features)
    assert torch.equal(after.embed(x), before.projector(features))
    assert after.embed(x).shape[1] == (size or before.backbone.out_dim)
    # training sees the projector whatever evaluation embeds: same loss for both
    episode = make_episode("augment")
    assert torch.equal(before(episode)["loss"], after(episode)["loss"])


def test_simclr_refuses_an_unknown_projector_or_embedding() -> None:
    with pytest.raises(BenchmarkError, match="unknown projector 'deep'"):
        build_method("simclr", "conv4", SHAPE, projector="deep")
    with pytest.raises(BenchmarkError, match="embed_from"):
        build_method("simclr", "conv4", SHAPE, embed_from="head")


def test_simclr_projector_initialises_as_the_inline_mlp_did() -> None:
    """Same seed, same weights as the ``nn.Sequential`` SimCLR built inline before the projector
    was a module (so results stay the same to the digit)."""
    torch.manual_seed(0)
    method = build_method("simclr", "conv4", SHAPE, projector_dim=32)
    assert isinstance(method.projector, ProjectionMLP)
    torch.manual_seed(0)
    width = build_backbone("conv4", SHAPE).out_dim
    inline = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, 32))
    expected, actual = inline.state_dict(), method.projector.state_dict()
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)


def test_trainable_parameters_default_to_those_that_require_grad() -> None:
    method = build_method("protonet", "conv4", SHAPE)
    assert [id(p) for p in method.trainable_parameters()] == [id(p) for p in method.parameters()]
    method.backbone.net[0].requires_grad_(False)
    frozen = {id(p) for p in method.backbone.net[0].parameters()}
    trainable = [id(p) for p in method.trainable_parameters()]
    assert frozen and not frozen & set(trainable)
    assert len(trainable) == len(list(method.parameters())) - len(frozen)


def _spread_after_training(name: str, steps: int) -> tuple[float, float]:
    """Embedding spread (mean per-dimension std) of 16 images before and after a tiny AdamW run
    on their two-view episodes; the weight decay speeds the pull-only loss towards f = constant."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(16, *SHAPE, generator=g)
    method = build_method(name, "conv4", SHAPE)
    optimizer = torch.optim.AdamW(method.parameters(), lr=0.01, weight_decay=3.0)

    def spread() -> float:
        with torch.no_grad():  # train-mode BN, as the embedding_std metric sees it
            return method.embed(images).std(0).mean().item()

    before = spread()
    for step in range(steps):
        loss = method(views_episode(images, g, step))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return before, spread()


def test_pairwise_collapses() -> None:
    before, after = _spread_after_training("pairwise", 100)
    assert after < before / 100  # measured: 0.52 → 0.0006


def test_simclr_does_not_collapse_under_the_same_run() -> None:
    before, after = _spread_after_training("simclr", 100)
    assert after > before / 10  # measured: 0.52 → 0.12 (weight decay shrinks it, negatives hold it)


def test_unknown_method_backbone_and_parameter_are_refused() -> None:
    with pytest.raises(BenchmarkError, match="unknown method 'mocov9'.*protonet"):
        build_method("mocov9", "conv4", SHAPE)
    with pytest.raises(BenchmarkError, match="unknown backbone 'vgg'"):
        build_method("protonet", "vgg", SHAPE)
    with pytest.raises(BenchmarkError, match=r"no parameter 'temprature' \(valid: distance, temperature\)"):
        build_method("protonet", "conv4", SHAPE, temprature=0.1)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("protonet", {"distance": "manhattan"}, "unknown distance 'manhattan'"),
        ("protonet", {"temperature": 0.0}, "temperature must be > 0"),
        ("simclr", {"temperature": -1.0}, "temperature must be > 0"),
        ("infonce", {"distance": "l1"}, "unknown distance 'l1'"),
        ("triplet", {"mining": "easy"}, "unknown triplet mining 'easy'"),
        ("triplet", {"margin": 0}, "margin must be > 0"),
    ],
)
def test_bad_parameter_values_are_refused(name: str, params: dict, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        build_method(name, "conv4", SHAPE, **params)


def test_image_size_the_backbone_cannot_take_is_refused() -> None:
    with pytest.raises(BenchmarkError, match="backbone 'conv4' cannot take 1x8x8 images"):
        build_method("protonet", "conv4", (1, 8, 8))


@pytest.mark.parametrize("name", METHODS.names())
def test_kinds_are_checked(name: str) -> None:
    """A method trains on the registered samplers whose episodes offer what it needs."""
    from benchmark.samplers import SAMPLERS

    cls = METHODS.get(name)
    registered = set(SAMPLERS.names())
    accepted = cls.accepted_kinds()
    assert accepted and accepted <= registered
    assert accepted == {k for k in registered if cls.needs <= SAMPLERS.get(k).offers}
    model = build_method(name, "conv4", SHAPE)
    for kind in registered - accepted:
        with pytest.raises(BenchmarkError, match=f"method '{name}' cannot train on '{kind}' episodes"):
            model.check(TaskShape(kind, offers_of(kind), 4, 2, 2))
        with pytest.raises(BenchmarkError, match=f"cannot train on '{kind}' episodes"):
            model(make_episode(kind))
    for kind in accepted:
        model.check(TaskShape(kind, offers_of(kind), 4, 2, 2))
    if cls.needs:
        with pytest.raises(BenchmarkError, match=f"method '{name}' cannot train on 'telepathy' episodes"):
            model.check(TaskShape("telepathy", frozenset(), 4, 2, 2))


#: Which registered samplers each method accepted before episodes said what they offer: the
#: acceptance is unchanged.
ACCEPTED_BEFORE_OFFERS = {
    **{name: {"labels", "augment"} for name in ("protonet", "maml", "anil", "r2d2")},
    **{name: {"augment", "patches"} for name in ("protoclr", "moco", "byol", "psco")},
    **{name: {"labels", "augment", "patches"} for name in ("simclr", "infonce", "pairwise",
                                                          "triplet", "pretrained")},
}


@pytest.mark.parametrize("name", sorted(ACCEPTED_BEFORE_OFFERS))
def test_each_method_accepts_the_samplers_it_accepted(name: str) -> None:
    from benchmark.samplers import SAMPLERS

    builtin = {"labels", "augment", "patches"}
    assert {k for k in METHODS.get(name).accepted_kinds() if k in builtin} == \
        ACCEPTED_BEFORE_OFFERS[name]
    assert builtin <= set(SAMPLERS.names())


def test_protonet_refuses_patches_and_protoclr_labels() -> None:
    with pytest.raises(BenchmarkError, match="'protonet' cannot train on 'patches' episodes: it "
                                             "accepts 'augment', 'labels'; for unlabelled"):
        build_method("protonet", "conv4", SHAPE).check(TaskShape("patches", offers_of("patches"), 4, 1, 1))
    with pytest.raises(BenchmarkError, match="'protoclr' cannot train on 'labels' episodes"):
        build_method("protoclr", "conv4", SHAPE).check(TaskShape("labels", offers_of("labels"), 4, 1, 1))


def test_triplet_refuses_one_way_tasks() -> None:
    with pytest.raises(BenchmarkError, match="at least 2 ways"):
        build_method("triplet", "conv4", SHAPE).check(TaskShape("labels", offers_of("labels"), 1, 5, 5))


def test_a_registered_name_is_written_once() -> None:
    """``register_method`` sets the class's ``name``: no method file writes it again."""
    for entry in METHODS.entries():
        source = inspect.getsource(entry.obj)
        assert f'name = "{entry.name}"' not in source and entry.obj.name == entry.name


@pytest.mark.parametrize("name", METHODS.names())
def test_registry_entry_is_a_described_method(name: str) -> None:
    entry = next(e for e in METHODS.entries() if e.name == name)
    assert issubclass(entry.obj, Method) and entry.obj.name == name
    assert len(entry.description) > 20
    assert all(value is not inspect.Parameter.empty for value in method_params(name).values())


def test_under_torchrun_only_methods_that_train_across_ranks_train(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal names the method refused and the attribute, never a list of methods."""
    from benchmark import distributed

    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    task = TaskShape("labels", offers_of("labels"), 4, 1, 1)
    with pytest.raises(BenchmarkError, match="method 'protonet' does not train across ranks") as err:
        build_method("protonet", "conv4", SHAPE).check(task)
    assert not any(f"'{n}'" in str(err.value) or f" {n}" in str(err.value)
                   for n in METHODS.names() if n != "protonet")
    build_method("simclr", "conv4", SHAPE).check(task)
