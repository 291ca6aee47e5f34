"""Episodic evaluation: fixed episodes, CI, determinism, the random floor, checkpoint checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from benchmark.checkpoint import save_checkpoint
from benchmark.methods import ModelSpec
from benchmark.data.split import Split, unit_float
from benchmark.errors import BenchmarkError
from benchmark.evaluation import (
    EpisodeSet,
    EvalResult,
    episode_seeds,
    evaluate,
    evaluate_checkpoint,
    fixed_episodes,
    random_floor,
    validator,
)
from benchmark.heads import HEADS
from benchmark.samplers import LabelSampler, Sampler, build_sampler
from benchmark.report.stats import mean_ci95
from fixtures_data import blob_split

SHAPE = (1, 16, 16)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def split() -> Split:
    """10 classes x 6 images of noisy class templates."""
    return blob_split(10, 6, SHAPE, signal=0.8)


@pytest.mark.parametrize("n", [2, 7, 600])
def test_confidence_interval_matches_scipy(n: int) -> None:
    acc = np.random.default_rng(n).uniform(0.3, 1.0, n)
    low, high = stats.t.interval(0.95, n - 1, loc=acc.mean(), scale=stats.sem(acc))
    mean, ci = mean_ci95(acc)
    assert mean == acc.mean() and ci == pytest.approx((high - low) / 2, rel=1e-12)


def test_one_episode_has_an_undefined_interval(split: Split) -> None:
    """The evaluator's CI is ``benchmark.report.stats.mean_ci95``: nan for a single episode."""
    result = evaluate(random_floor("conv4", SHAPE), fixed_episodes(split, 5, 1, 1, 1, seed=0))
    assert result.episodes == 1 and np.isnan(result.ci95)
    assert np.isnan(mean_ci95([0.5])[1]) and result.summary().startswith(f"{100 * result.mean:.2f} ± nan %")


def test_fixed_episodes_are_identical_every_time(split: Split) -> None:
    first = list(fixed_episodes(split, 5, 1, 3, 7, seed=3))
    again = list(fixed_episodes(split, 5, 1, 3, 7, seed=3))
    other = list(fixed_episodes(split, 5, 1, 3, 7, seed=4))
    assert len(first) == 7
    assert all(torch.equal(a.query, b.query) and torch.equal(a.class_ids, b.class_ids)
               for a, b in zip(first, again))
    assert not all(torch.equal(a.class_ids, b.class_ids) for a, b in zip(first, other))


@pytest.mark.parametrize("head", ["prototype", "prototype_cosine", "logistic"])
def test_evaluation_is_deterministic_and_batch_independent(split: Split, head: str) -> None:
    floor = random_floor("conv4", SHAPE, seed=0)
    episodes = fixed_episodes(split, 5, 2, 3, 9, seed=1)
    a = evaluate(floor, episodes, head)
    b = evaluate(random_floor("conv4", SHAPE, seed=0), episodes, head, batch_images=25)
    assert isinstance(a, EvalResult) and a.episodes == 9 and a.accuracies.shape == (9,)
    np.testing.assert_array_equal(a.accuracies, b.accuracies)
    assert a.mean == pytest.approx(a.accuracies.mean()) and a.head == head
    assert (a.ways, a.shots, a.queries) == (5, 2, 3)


def test_evaluate_restores_train_mode_and_keeps_weights(split: Split) -> None:
    floor = random_floor("conv4", SHAPE).train()
    before = {k: v.clone() for k, v in floor.state_dict().items()}
    validator(fixed_episodes(split, 3, 1, 2, 4, seed=0))(floor)
    assert floor.training
    assert all(torch.equal(before[k], v) for k, v in floor.state_dict().items())


def test_random_floor_depends_on_its_seed_only() -> None:
    torch.manual_seed(123)
    a, b, c = (random_floor("conv4", SHAPE, s) for s in (0, 0, 1))
    x = torch.rand(4, *SHAPE)
    assert torch.equal(a.embed(x), b.embed(x)) and not torch.equal(a.embed(x), c.embed(x))


@pytest.mark.parametrize("rotations, said", [(False, ""), (True, "; rotations as classes")])
def test_summary_reads_like_the_papers(rotations: bool, said: str) -> None:
    result = EvalResult(0.6231, 0.0084, np.zeros(600), 600, 5, 1, 15, "prototype",
                        rotations=rotations)
    assert result.summary() == f"62.31 ± 0.84 % (600 episodes, 5-way 1-shot, head prototype{said})"


def test_rotations_make_each_turn_of_a_class_a_class_of_its_own(split: Split) -> None:
    """12-way episodes of a 10-class split: class ``4c + k`` is class ``c`` turned ``k``
    quarter turns; the set names its split ``<split>+rotations``."""
    episodes = fixed_episodes(split, 12, 1, 2, 6, seed=0, rotations=True)
    assert episodes.split == f"{split.name}+rotations"
    for episode in episodes:
        ids = episode.class_ids.tolist()
        assert len(set(ids)) == 12 and max(ids) < 4 * split.num_classes
        for image, class_id in zip(episode.support, ids):  # one shot, class-major
            source, turns = divmod(class_id, 4)
            turned = torch.rot90(unit_float(split.images[split.labels == source]), turns, (-2, -1))
            assert any(torch.equal(image, candidate) for candidate in turned)
    with pytest.raises(BenchmarkError, match="ways"):
        fixed_episodes(split, 12, 1, 2, 6, seed=0)


def test_impossible_settings_are_refused(split: Split) -> None:
    with pytest.raises(BenchmarkError, match="ways"):
        fixed_episodes(split, 11, 1, 1, 5, seed=0)
    with pytest.raises(BenchmarkError, match="K\\+Q"):
        fixed_episodes(split, 5, 4, 3, 5, seed=0)
    with pytest.raises(BenchmarkError, match="at least 1 episode"):
        fixed_episodes(split, 5, 1, 1, 0, seed=0)


# --------------------------------------------------------------------------- checkpoints


def write_checkpoint(path: Path, image_shape: tuple[int, int, int]) -> Path:
    spec = ModelSpec("protonet", "conv4", image_shape)
    torch.manual_seed(0)
    return save_checkpoint(path, {"model_spec": spec.to_dict(), "model": spec.build().state_dict(), "step": 0})


@pytest.fixture(scope="module")
def omniglot_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", (1, 28, 28))


def test_evaluate_checkpoint_on_the_embedded_omniglot(omniglot_checkpoint: Path) -> None:
    result = evaluate_checkpoint(omniglot_checkpoint, "omniglot", ways=5, shots=1, queries=5,
                                 episodes=6, head="prototype", seed=0, device="cpu")
    assert result.episodes == 6 and 0.0 <= result.mean <= 1.0
    assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d % \(6 episodes, 5-way 1-shot, head prototype\)",
                        result.summary())


def test_truncated_checkpoint_is_refused(omniglot_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(omniglot_checkpoint.read_bytes()[:1000])
    with pytest.raises(BenchmarkError, match="truncated or corrupt"):
        evaluate_checkpoint(broken, "omniglot", episodes=2, device="cpu")
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(BenchmarkError, match="truncated or corrupt"):
        evaluate_checkpoint(garbage, "omniglot", episodes=2, device="cpu")


def test_checkpoint_for_other_images_is_refused(tmp_path: Path) -> None:
    colour = write_checkpoint(tmp_path / "rgb.pt", (3, 28, 28))
    with pytest.raises(BenchmarkError, match="3x28x28 images .* 1x28x28"):
        evaluate_checkpoint(colour, "omniglot", episodes=2, device="cpu")


@pytest.mark.parametrize(
    "setting, message",
    [({"ways": 1000}, "ways"), ({"shots": 19, "queries": 15}, "K\\+Q"), ({"head": "svm"}, "unknown head"),
     ({"episodes": 0}, "at least 1 episode"), ({"dataset": "nope"}, "nope")],
)
def test_bad_evaluation_settings_are_refused(omniglot_checkpoint: Path, setting: dict, message: str) -> None:
    args = {"dataset": "omniglot", "episodes": 2, "device": "cpu", **setting}
    with pytest.raises(BenchmarkError, match=message):
        evaluate_checkpoint(omniglot_checkpoint, **args)


def test_every_head_is_registered_with_a_description() -> None:
    assert {"prototype", "prototype_cosine", "logistic", "finetune"} <= set(HEADS.names())
    assert all(entry.description for entry in HEADS.entries())


@pytest.mark.parametrize("head", ["prototype", "prototype_cosine", "logistic"])
def test_embedding_the_split_once_gives_the_per_episode_accuracies(split: Split, head: str) -> None:
    """The fast path (embed every split image once, gather episode rows) is the same evaluation."""
    floor = random_floor("conv4", SHAPE, seed=1)
    episodes = fixed_episodes(split, 5, 2, 3, 40, seed=0)  # 40 x 25 images > 60 split images
    fast = evaluate(floor, episodes, head)
    slow = evaluate(floor, list(episodes), head)  # a plain list: every episode embedded
    np.testing.assert_allclose(fast.accuracies, slow.accuracies)
    assert fast.mean == pytest.approx(slow.mean)


class RowsOfAnotherSampler(Sampler):
    """Not a LabelSampler, but its episodes are rows of its stored images (it says which)."""

    kind = "labels"

    def __init__(self, split: Split, ways: int, shots: int, queries: int) -> None:
        super().__init__(ways, shots, queries, "cpu")
        self.inner = LabelSampler(split, ways, shots, queries)
        self.images = self.inner.images

    def image_rows(self, seeds):
        return self.inner.image_rows(seeds)

    def _draw(self, seeds):
        return self.inner.sample_stacked(seeds)


def counting(model: torch.nn.Module, seen: list[int]):
    def embed(x: torch.Tensor) -> torch.Tensor:
        seen.append(len(x))
        return model.embed(x)
    return embed


@pytest.mark.parametrize("kind", ["rows", "augment"])
def test_any_sampler_saying_its_image_rows_is_embedded_once(split: Split, kind: str) -> None:
    """The split path depends only on ``Sampler.images``/``image_rows``, not on a sampler class."""
    floor = random_floor("conv4", SHAPE, seed=2)
    sampler = (RowsOfAnotherSampler(split, 5, 2, 3) if kind == "rows"
               else build_sampler("augment", split, 5, 2, 3))
    episodes = EpisodeSet(sampler, episode_seeds(0, 40), 5, 2, 3, "blobs", "test", split.fingerprint)
    seen: list[int] = []
    fast = evaluate(counting(floor, seen), episodes, "prototype")
    slow = evaluate(floor, list(episodes), "prototype")
    np.testing.assert_array_equal(fast.accuracies, slow.accuracies)
    assert sum(seen) == (len(split) if kind == "rows" else 40 * 25)
