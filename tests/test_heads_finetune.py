"""The finetune head: starts as the prototype head, and fine-tuning does not make it worse."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.split import Split
from benchmark.evaluation import EvalResult, evaluate, fixed_episodes
from benchmark.heads import HEADS
from benchmark.methods import build_method
from fixtures_data import blob_split

SHAPE = (1, 28, 28)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def split() -> Split:
    """8 classes x 8 images: a class template under heavy noise (a random Conv-4 gets ~75% 1-shot)."""
    return blob_split(8, 8, SHAPE, signal=0.6)


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    """A ProtoNet with an untrained Conv-4 (batch norm included)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_method("protonet", "conv4", SHAPE).eval()


@pytest.mark.parametrize("params", [{"steps": 0}, {"lr": 0.0, "backbone_lr": 0.0}])
@pytest.mark.parametrize("shots", [1, 3])
def test_without_a_step_it_predicts_as_the_prototype_head(
    split: Split, network: torch.nn.Module, params: dict, shots: int
) -> None:
    """W_c = 2 p_c, b_c = -|p_c|^2 ranks classes exactly as the squared distance to p_c."""
    episodes = list(fixed_episodes(split, 5, shots, 3, 4, seed=0))
    finetune = HEADS.build("finetune", **params).predict(network, episodes)
    assert torch.equal(finetune, HEADS.build("prototype").predict(network, episodes))


@pytest.mark.parametrize("shots", [1, 3])
def test_finetuning_does_not_fall_below_the_prototype_head(
    split: Split, network: torch.nn.Module, shots: int
) -> None:
    """Default knobs, network tuned too. The old head (prototypical loss of the support against
    its own prototypes, Adam on every weight) fell here from 73.3 to 67.5 (1-shot) and from
    95.8 to 93.3 (3-shot)."""
    episodes = list(fixed_episodes(split, 5, shots, 3, 8, seed=0))
    prototype, finetune = (evaluate(network, episodes, head) for head in ("prototype", "finetune"))
    assert 0.5 < prototype.mean < 1.0  # neither trivial nor hopeless: a fall could show
    assert correct(finetune) >= correct(prototype)


def correct(result: EvalResult) -> int:
    """Correctly classified queries (a count: means of equal counts may differ in the last bit)."""
    return round(float(result.accuracies.sum()) * result.ways * result.queries)


def test_a_frozen_network_needs_no_module(split: Split, network: torch.nn.Module) -> None:
    """backbone_lr=0 tunes the classifier alone, so a plain embedding function will do."""
    episodes = list(fixed_episodes(split, 5, 3, 3, 3, seed=0))
    with torch.no_grad():
        as_module = HEADS.build("finetune", backbone_lr=0.0).predict(network, episodes)
        as_function = HEADS.build("finetune", backbone_lr=0.0).predict(network.embed, episodes)
    assert torch.equal(as_module, as_function)


def test_finetuning_is_deterministic_and_leaves_the_model_untouched(
    split: Split, network: torch.nn.Module
) -> None:
    episodes = list(fixed_episodes(split, 5, 1, 3, 2, seed=0))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    head = HEADS.build("finetune", steps=5, lr=0.5, backbone_lr=0.05)
    first, again = head.predict(network, episodes), head.predict(network, episodes)
    assert torch.equal(first, again)
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    assert not network.training


class Scaled(torch.nn.Module):
    """A network whose embedding is ``scale`` times another's (SimCLR's backbone features are
    larger than ProtoNet's): the prototype head's predictions do not change."""

    def __init__(self, inner: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.inner, self.scale = inner, scale

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.inner.embed(x)


def test_an_embedding_with_large_norms_does_not_wreck_the_network(
    split: Split, network: torch.nn.Module
) -> None:
    """Logits grow with the square of the embedding's scale; the clipped step keeps fine-tuning
    near the prototype head, where the unclipped one falls far below it."""
    episodes = list(fixed_episodes(split, 5, 3, 3, 8, seed=0))
    large = Scaled(network, 40.0)
    prototype = evaluate(large, episodes, "prototype")
    clipped = evaluate(large, episodes, HEADS.build("finetune"))
    unclipped = evaluate(large, episodes, HEADS.build("finetune", max_grad_norm=0.0))
    assert correct(clipped) >= correct(prototype) - 2
    assert correct(unclipped) < correct(prototype) - 10  # what the clipping prevents
