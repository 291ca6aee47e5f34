"""No transductive leak: a query is classified alike alone (with its support) and in its episode.

For every registered head, with a Conv-4 (batch norm) inside a method left in train mode:
batch statistics of the queries, or anything else about the other queries, must not reach a
query's prediction, through ``evaluate`` (including its split-embedding path) or ``Head.predict``.
The ``native`` head (a method's own adaptation) is tried on each method that has one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.data.split import Split
from benchmark.episodes.episode import Episode
from benchmark.evaluation import evaluate, fixed_episodes
from benchmark.heads import HEADS
from benchmark.methods import Method, build_method

SHAPE = (1, 28, 28)
WAYS, SHOTS, QUERIES, EPISODES = 5, 1, 2, 2

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def split() -> Split:
    """6 classes x 3 images of noisy class templates: fewer images than 2 episodes hold, so
    ``evaluate`` takes its split-embedding path for the frozen-embedding heads."""
    g = torch.Generator().manual_seed(0)
    templates = torch.rand(6, *SHAPE, generator=g)
    labels = torch.arange(6).repeat_interleave(3)
    images = (0.5 * templates[labels] + 0.5 * torch.rand(18, *SHAPE, generator=g)) * 255
    return Split("blobs", "test", images.to(torch.uint8), labels, tuple(f"c{i}" for i in range(6)))


#: (head, method): every head on a ProtoNet; ``native`` on each method with its own adaptation.
CASES = [(head, method) for head in HEADS.names()
         for method in (("maml", "anil", "r2d2") if head == "native" else ("protonet",))]


def network(name: str = "protonet") -> Method:
    """A method (ProtoNet by default) on an untrained Conv-4 whose batch-norm running
    statistics are not the identity (so that train and eval mode embed differently), in train
    mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method(name, "conv4", SHAPE)
        for module in method.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return method.train()


def alone(episode: Episode, labels: torch.Tensor) -> list[Episode]:
    """One episode per query: the same support and that query only, labelled ``labels[i]``."""
    return [
        dataclasses.replace(episode, query=episode.query[i : i + 1], query_labels=labels[i : i + 1])
        for i in range(len(episode.query))
    ]


@pytest.mark.parametrize("name, method", CASES)
def test_evaluate_classifies_a_query_alone_as_in_its_episode(split: Split, name: str,
                                                             method: str) -> None:
    model, head = network(method), HEADS.build(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    episodes = fixed_episodes(split, WAYS, SHOTS, QUERIES, EPISODES, seed=0)
    assert len(split.images) < EPISODES * WAYS * (SHOTS + QUERIES)
    in_episode = evaluate(model, episodes, head)  # the whole EpisodeSet
    assert model.training  # evaluate switched to eval mode and back
    model.eval()
    predictions = head.predict(model, list(episodes))  # [E, N*Q], reference in eval mode
    model.train()
    labels = torch.stack([e.query_labels for e in episodes])
    np.testing.assert_array_equal(in_episode.accuracies, (predictions == labels).double().mean(1).numpy())
    # Each query alone, labelled with the class it got in its episode: all must be right.
    singles = [one for e, p in zip(episodes, predictions) for one in alone(e, p)]
    assert evaluate(model, singles, head).accuracies.tolist() == [1.0] * len(singles)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # no BN update


@pytest.mark.parametrize("name, method", CASES)
def test_a_head_classifies_in_eval_mode(split: Split, name: str, method: str) -> None:
    """Called directly on a model in train mode, a head still uses no batch statistics."""
    model, head = network(method), HEADS.build(name)
    episodes = list(fixed_episodes(split, WAYS, SHOTS, QUERIES, EPISODES, seed=1))
    predictions = head.predict(model, episodes)
    assert model.training
    for episode, predicted in zip(episodes, predictions):
        singles = torch.cat([head.predict(model, [one]) for one in alone(episode, predicted)], 1)
        assert torch.equal(singles[0], predicted)
    model.eval()
    assert torch.equal(head.predict(model, episodes), predictions)
