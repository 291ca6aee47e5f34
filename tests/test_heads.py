"""Evaluation heads: every registered head solves an easy episode; batching changes nothing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.episodes.episode import Episode
from benchmark.errors import BenchmarkError
from benchmark.heads import HEADS, embed_episodes
from benchmark.losses import class_means

WAYS, SHOTS, QUERIES = 4, 2, 3
SHAPE = (1, 4, 4)


pytestmark = pytest.mark.usefixtures("one_thread")


class Flatten(nn.Module):
    """An embedder with parameters (an identity-initialised linear map) for the finetune head."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 16)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(16))
            self.linear.bias.zero_()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class Adaptive(Flatten):
    """A Flatten with an adaptation of its own (nearest prototype on its embedding), so that the
    ``native`` head, which needs one, is tested like every other head."""

    def check(self, task: object) -> None:
        """Any episode."""

    def adapt_predict(self, episode: Episode) -> torch.Tensor:
        protos = class_means(self.embed(episode.support), episode.support_labels, episode.ways)
        return torch.cdist(self.embed(episode.query), protos).argmin(1)


def easy_episode(seed: int) -> Episode:
    """Class c lights pixel c (of 16) brightly over low noise: separable by any sane head."""
    g = torch.Generator().manual_seed(seed)
    class_ids = torch.randperm(16, generator=g)[:WAYS]

    def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(WAYS).repeat_interleave(per_class)
        images = 0.1 * torch.rand(len(labels), 16, generator=g)
        images[torch.arange(len(labels)), class_ids[labels]] = 1.0
        return images.view(-1, *SHAPE), labels

    support, support_labels = draw(SHOTS)
    query, query_labels = draw(QUERIES)
    return Episode(support, support_labels, query, query_labels, class_ids,
                   WAYS, SHOTS, QUERIES, "labels", seed, frozenset({"classes"}))


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_solves_an_easy_episode(name: str) -> None:
    episodes = [easy_episode(s) for s in range(5)]
    predictions = HEADS.build(name).predict(Adaptive(), episodes)
    assert predictions.shape == (5, WAYS * QUERIES) and predictions.dtype == torch.int64
    assert torch.equal(predictions, torch.stack([e.query_labels for e in episodes]))


@pytest.mark.parametrize("name", HEADS.names())
def test_batched_prediction_equals_one_episode_at_a_time(name: str) -> None:
    model, episodes = Adaptive(), [easy_episode(s) for s in range(4)]
    together = HEADS.build(name).predict(model, episodes)
    alone = torch.cat([HEADS.build(name).predict(model, [e]) for e in episodes])
    assert torch.equal(together, alone)


def test_finetune_leaves_the_model_untouched() -> None:
    model = Flatten()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    HEADS.build("finetune", steps=3, lr=0.1).predict(model, [easy_episode(0)])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_finetune_needs_a_network() -> None:
    with pytest.raises(BenchmarkError, match="finetune"):
        HEADS.build("finetune").predict(lambda x: x.flatten(1), [easy_episode(0)])


def test_frozen_heads_take_a_plain_embedding_function() -> None:
    episode = easy_episode(1)
    predictions = HEADS.build("prototype").predict(lambda x: x.flatten(1), [episode])
    assert torch.equal(predictions[0], episode.query_labels)


def test_prototypes_are_class_means() -> None:
    support = torch.tensor([[[0.0, 2.0], [2.0, 4.0], [10.0, 10.0]]])
    labels = torch.tensor([[0, 0, 1]])
    assert torch.equal(class_means(support, labels, 2), torch.tensor([[[1.0, 3.0], [10.0, 10.0]]]))
    assert torch.equal(class_means(support[0], labels[0], 2), torch.tensor([[1.0, 3.0], [10.0, 10.0]]))


def test_class_means_batched_is_the_matrix_product_of_each_episode() -> None:
    """One function for the loss ([M, D]) and the heads ([E, M, D]), with the products they had:
    a plain matmul for one episode, a batched one for several, then the same division."""
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(6, 25, 64, generator=g)
    labels = torch.arange(5).repeat_interleave(5).expand(6, -1)
    onehot = F.one_hot(labels, 5).float()
    batched = onehot.transpose(1, 2) @ emb / onehot.sum(1).unsqueeze(-1)
    assert torch.equal(class_means(emb, labels, 5), batched)
    single = (onehot[0].T @ emb[0]) / onehot[0].sum(0).clamp_min(1.0).unsqueeze(1)
    assert torch.equal(class_means(emb[0], labels[0], 5), single)
    assert torch.equal(class_means(emb[0], torch.zeros(25, dtype=torch.int64), 2)[1], torch.zeros(64))


def test_embed_episodes_splits_support_and_query() -> None:
    episodes = [easy_episode(s) for s in range(3)]
    support, query = embed_episodes(lambda x: x.flatten(1), episodes)
    assert support.shape == (3, WAYS * SHOTS, 16) and query.shape == (3, WAYS * QUERIES, 16)
    assert torch.equal(query[2], episodes[2].query.flatten(1))


@pytest.mark.parametrize("name, params", [("logistic", {"steps": 0}), ("finetune", {"lr": -1.0})])
def test_bad_head_parameters_are_refused(name: str, params: dict) -> None:
    with pytest.raises(BenchmarkError, match=name):
        HEADS.build(name, **params)


def test_unknown_head_is_refused() -> None:
    with pytest.raises(BenchmarkError, match="unknown head"):
        HEADS.build("svm")
