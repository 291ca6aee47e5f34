"""A new sampler is one registered class: specs, methods and the runner take it as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark import runner
from benchmark.data import load_split
from benchmark.data.split import Split, unit_float
from benchmark.episodes.batch import EpisodeBatch
from benchmark.errors import BenchmarkError
from benchmark.methods import METHODS
from benchmark.samplers import SAMPLERS, Sampler, register_sampler
from benchmark.samplers.labels import class_index_table
from benchmark.spec.benchmark_spec import parse_spec

pytestmark = pytest.mark.usefixtures("one_thread")


class FirstImagesSampler(Sampler):
    """Labels-like episodes made another way: N consecutive classes from ``seed`` modulo the
    class count, and the first K+Q images of each (no random draw at all). They offer labelled
    classes."""

    offers = frozenset({"classes"})

    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(ways, shots, queries, device)
        self.table, _ = class_index_table(split.labels.to(torch.int64), split.num_classes)
        self.num_classes = split.num_classes
        self.images = split.images.to(self.device)

    def _draw(self, seeds: list[int]) -> EpisodeBatch:
        n, k, q, b = self.ways, self.shots, self.queries, len(seeds)
        first = torch.tensor([s % self.num_classes for s in seeds])
        classes = (first[:, None] + torch.arange(n)) % self.num_classes  # [B, N]
        index = self.table[classes][:, :, : k + q]  # [B, N, K+Q], class-major
        order = torch.cat([index[:, :, :k].reshape(b, n * k), index[:, :, k:].reshape(b, n * q)], 1)
        images = unit_float(self.images[order.to(self.device)])
        return EpisodeBatch(
            support=images[:, : n * k], support_labels=self.labels(b, k),
            query=images[:, n * k:], query_labels=self.labels(b, q),
            class_ids=classes.to(self.device), ways=n, shots=k, queries=q, kind=self.kind,
            seeds=tuple(seeds),
        )


class SilentSampler(FirstImagesSampler):
    """The same episodes, offering nothing a method may need."""

    offers = frozenset()


@pytest.fixture
def first_images(monkeypatch: pytest.MonkeyPatch) -> str:
    """``first_images`` registered for one test (the registry's table is restored after it)."""
    monkeypatch.setattr(SAMPLERS, "_entries", dict(SAMPLERS._entries))
    register_sampler("first_images")(FirstImagesSampler)
    return "first_images"


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> str:
    """``silent`` registered for one test (the registry's table is restored after it)."""
    monkeypatch.setattr(SAMPLERS, "_entries", dict(SAMPLERS._entries))
    register_sampler("silent")(SilentSampler)
    return "silent"


def tiny_spec(method: str, sampler: str) -> dict:
    """Two steps of ``method`` on Omniglot episodes of ``sampler``, two test episodes."""
    return {
        "name": "registry", "device": "cpu",
        "train": {"dataset": "omniglot", "split": "background"},
        "trainer": {"steps": 2, "checkpoint_every": 2},
        "methods": [{"method": method, "backbone": "conv4", "sampler": sampler,
                     "ways": 5, "shots": 1, "queries": 1}],
        "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
                 "settings": [{"ways": 5, "shots": 1}], "episodes": 2, "queries": 1},
    }


@pytest.mark.parametrize("method", ["infonce", "protonet", "maml"])
def test_a_registered_sampler_trains_a_method_end_to_end(first_images: str, method: str,
                                                         tmp_path: Path) -> None:
    """A new labelled sampler (it offers classes) trains the methods that need nothing and
    those that need labelled classes (protonet, maml), with no method naming it."""
    spec = parse_spec(tiny_spec(method, first_images))
    runner.preflight(spec, None)
    result = runner.run_job(spec, method, 0, runs_dir=tmp_path)
    assert result.run is not None and result.run.steps == 2
    assert [(r.method, r.ways, r.shots, r.head) for r in result.rows] == [
        (method, 5, 1, "prototype")]
    assert 0 <= result.rows[0].accuracy <= 1


def test_its_episodes_are_of_its_kind(first_images: str) -> None:
    split = load_split("omniglot", "background")
    episode = SAMPLERS.build(first_images, split=split, ways=3, shots=2, queries=1,
                             device="cpu").sample(7)
    assert episode.kind == first_images and episode.class_ids.tolist() == [7, 8, 9]
    assert episode.support_labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_a_method_refuses_episodes_that_do_not_offer_what_it_needs(first_images: str,
                                                                   silent: str) -> None:
    assert {first_images, silent} <= METHODS.get("infonce").accepted_kinds()
    assert first_images in METHODS.get("protonet").accepted_kinds()
    spec = parse_spec(tiny_spec("protonet", silent))
    with pytest.raises(BenchmarkError, match="methods\\[0\\]: method 'protonet' cannot train on "
                                             "'silent' episodes: it accepts 'augment', "
                                             "'first_images', 'labels'"):
        runner.preflight(spec, None)


def test_a_sampler_offers_only_words_of_the_vocabulary() -> None:
    class Telepathic(FirstImagesSampler):
        offers = frozenset({"classes", "thoughts"})

    with pytest.raises(BenchmarkError, match="sampler 'telepathic' offers 'thoughts': not among "
                                             "classes, frames, instances"):
        register_sampler("telepathic")(Telepathic)
    assert "telepathic" not in SAMPLERS.names()


def test_an_unregistered_sampler_is_refused_by_the_spec() -> None:
    with pytest.raises(BenchmarkError, match=r"methods\[0\].sampler: unknown sampler "
                                             r"'first_images' \(known: augment, labels, patches, temporal\)"):
        parse_spec(tiny_spec("infonce", "first_images"))
