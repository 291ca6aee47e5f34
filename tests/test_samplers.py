"""Samplers: shapes, label remapping, no overlap, determinism, rotations, batching, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.data.split import Split, unit_float
from benchmark.device import resolve_device
from benchmark.episodes import Episode, EpisodeBatch
from benchmark.samplers import SAMPLERS, LabelSampler, build_sampler
from benchmark.errors import BenchmarkError


def make_split(counts: list[int], channels: int = 1, size: int = 8) -> Split:
    """Class c has counts[c] images; image i carries its index in pixels (0,0,0) and (0,0,1)."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)]).to(torch.int64)
    total = len(labels)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (total, channels, size, size), dtype=torch.uint8, generator=g)
    index = torch.arange(total)
    images[:, 0, 0, 0] = (index % 256).to(torch.uint8)
    images[:, 0, 0, 1] = (index // 256).to(torch.uint8)
    return Split("toy", "train", images, labels, tuple(f"class{c}" for c in range(len(counts))))


def image_ids(x: torch.Tensor) -> torch.Tensor:
    """Decode the image index from episodes' float images ``[M, C, H, W]``."""
    pixels = (x[:, 0, 0, :2] * 255).round().to(torch.int64)
    return pixels[:, 0] + 256 * pixels[:, 1]


SPLIT = make_split([6] * 10)


@pytest.mark.parametrize("kind", SAMPLERS.names())
def test_every_sampler_makes_valid_episodes(kind):
    sampler = build_sampler(kind, SPLIT, ways=4, shots=2, queries=3)
    assert (sampler.ways, sampler.shots, sampler.queries, sampler.kind) == (4, 2, 3, kind)
    ep = sampler.sample(7)
    assert ep.support.shape == (8, 1, 8, 8) and ep.query.shape == (12, 1, 8, 8)
    assert ep.support.dtype == ep.query.dtype == torch.float32
    for x in (ep.support, ep.query):
        assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(ep.support_labels, torch.arange(4).repeat_interleave(2))
    assert torch.equal(ep.query_labels, torch.arange(4).repeat_interleave(3))
    assert ep.class_ids.shape == (4,) and len(set(ep.class_ids.tolist())) == 4
    assert (ep.ways, ep.shots, ep.queries, ep.kind, ep.seed) == (4, 2, 3, kind, 7)


@pytest.mark.parametrize("kind", SAMPLERS.names())
def test_same_seed_same_episode_different_seed_different(kind):
    a = build_sampler(kind, SPLIT, 4, 2, 3).sample(11)
    b = build_sampler(kind, SPLIT, 4, 2, 3).sample(11)  # a fresh sampler: no hidden state
    c = build_sampler(kind, SPLIT, 4, 2, 3).sample(12)
    for field in ("support", "query", "class_ids", "support_labels", "query_labels"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.support, c.support)


@pytest.mark.parametrize("kind", SAMPLERS.names())
def test_batch_equals_single_draws_and_ignores_global_rng(kind):
    sampler = build_sampler(kind, SPLIT, 3, 1, 2)
    seeds = [5, 0, 123456789, 5]
    torch.manual_seed(1)
    batch = sampler.sample_batch(seeds)
    torch.manual_seed(2)
    for seed, ep in zip(seeds, batch):
        single = sampler.sample(seed)
        assert ep.seed == seed
        assert torch.equal(ep.support, single.support) and torch.equal(ep.query, single.query)
    assert sampler.sample_batch([]) == []


def test_labels_remapped_and_images_from_their_class_without_overlap():
    split = make_split([6] * 10)
    sampler = LabelSampler(split, ways=5, shots=2, queries=4)
    for ep in sampler.sample_batch(range(50)):
        support, query = image_ids(ep.support), image_ids(ep.query)
        assert torch.equal(split.labels[support], ep.class_ids[ep.support_labels])
        assert torch.equal(split.labels[query], ep.class_ids[ep.query_labels])
        assert not set(support.tolist()) & set(query.tolist())
        assert len(set(support.tolist()) | set(query.tolist())) == 5 * 6
        originals = unit_float(split.images[torch.cat([support, query])])
        assert torch.equal(torch.cat([ep.support, ep.query]), originals)


def test_unequal_class_sizes_only_draw_existing_images():
    split = make_split([3, 7, 4, 9, 3, 5])
    sampler = LabelSampler(split, ways=6, shots=1, queries=2)
    for ep in sampler.sample_batch(range(100)):
        ids = image_ids(torch.cat([ep.support, ep.query]))
        labels = torch.cat([ep.support_labels, ep.query_labels])
        assert torch.equal(split.labels[ids], ep.class_ids[labels])
        assert len(set(ids.tolist())) == 18


def test_large_classes_draw_distinct_images_uniformly():
    """Classes wider than SORT_WIDTH take Floyd's route; unequal sizes, same guarantees."""
    import numpy as np
    from scipy.stats import chisquare

    from benchmark.samplers.labels import SORT_WIDTH

    counts = [SORT_WIDTH + 36, SORT_WIDTH + 6, SORT_WIDTH + 1]
    split = make_split(counts)
    sampler = LabelSampler(split, ways=2, shots=3, queries=2)
    assert not sampler.sort_images
    drawn = []
    for ep in sampler.sample_batch(range(3000)):
        ids = image_ids(torch.cat([ep.support, ep.query]))
        labels = torch.cat([ep.support_labels, ep.query_labels])
        assert torch.equal(split.labels[ids], ep.class_ids[labels])
        assert len(set(ids.tolist())) == 10
        drawn += ids.tolist()
    frequency = np.bincount(drawn, minlength=sum(counts))
    for start, count in zip(np.cumsum([0] + counts[:-1]), counts):
        assert chisquare(frequency[start:start + count]).pvalue > 1e-3


def test_rotations_are_new_classes():
    split = make_split([4] * 3)
    sampler = LabelSampler(split, ways=12, shots=1, queries=1, rotations=True)
    assert sampler.num_classes == 12
    ep = sampler.sample(3)
    assert sorted(ep.class_ids.tolist()) == list(range(12))
    for x, label in zip(torch.cat([ep.support, ep.query]), torch.cat([ep.support_labels, ep.query_labels])):
        class_id = int(ep.class_ids[label])
        turns = class_id % 4
        upright = torch.rot90(x, -turns, dims=(-2, -1))
        index = int(image_ids(upright[None])[0])
        assert int(split.labels[index]) == class_id // 4
        assert torch.equal(upright, unit_float(split.images[index]))


def stack_episodes(episodes: list[Episode]) -> EpisodeBatch:
    """Episodes of one shape stacked field by field."""
    first = episodes[0]
    return EpisodeBatch(*(torch.stack([getattr(e, f) for e in episodes]) for f in
                          ("support", "support_labels", "query", "query_labels", "class_ids")),
                        first.ways, first.shots, first.queries, first.kind,
                        tuple(e.seed for e in episodes))


def test_stack_and_unbind_round_trip():
    sampler = LabelSampler(SPLIT, 3, 2, 1)
    episodes = sampler.sample_batch([1, 2, 3])
    batch = stack_episodes(episodes)
    assert isinstance(batch, EpisodeBatch) and len(batch) == 3
    assert batch.support.shape == (3, 6, 1, 8, 8) and batch.query_labels.shape == (3, 3)
    assert batch.class_ids.shape == (3, 3) and batch.seeds == (1, 2, 3)
    stacked = sampler.sample_stacked([1, 2, 3])
    assert torch.equal(stacked.support, batch.support)
    for a, b in zip(batch.unbind(), episodes):
        assert torch.equal(a.query, b.query) and a.seed == b.seed
    assert batch.to("cpu").episode(2).seed == 3


EMPTY = Split("toy", "empty", torch.zeros(0, 1, 8, 8, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64), ())


@pytest.mark.parametrize(
    "kind, args, options, message",
    [
        ("labels", (SPLIT, 11, 1, 1), {}, "ways N=11 exceeds the 10 classes"),
        ("labels", (SPLIT, 41, 1, 1), {"rotations": True}, "exceeds the 40 classes"),
        ("labels", (make_split([6, 2, 6]), 2, 1, 2), {}, "K\\+Q=3 exceeds the images of 1 class.*class1 \\(2 images\\)"),
        ("labels", (SPLIT, 0, 1, 1), {}, "ways"),
        ("labels", (SPLIT, 2, 0, 1), {}, "shots"),
        ("labels", (SPLIT, 2, 1, 0), {}, "queries"),
        ("labels", (SPLIT, 2.5, 1, 1), {}, "ways"),
        ("labels", (SPLIT, True, 1, 1), {}, "ways"),
        ("labels", (EMPTY, 1, 1, 1), {}, "empty"),
        ("labels", (SPLIT, 2, 1, 1), {"rotations": "yes"}, "rotations"),
        ("labels", (SPLIT, 2, 1, 1), {"shuffle": True}, "unknown option.*shuffle"),
        ("augment", (SPLIT, 61, 1, 1), {}, "ways N=61 exceeds the 60 images"),
        ("augment", (EMPTY, 1, 1, 1), {}, "empty"),
        ("augment", (SPLIT, 2, 1, -1), {}, "queries"),
        ("augment", (SPLIT, 2, 1, 1), {"augment": {"blur_kernel": 4}}, "blur_kernel"),
        ("augment", (SPLIT, 2, 1, 1), {"augment": {"sharpen": 1}}, "unknown knob.*sharpen"),
        ("patches", (SPLIT, 61, 1, 1), {}, "exceeds the 60 images"),
        ("patches", (SPLIT, 2, 1, 1), {"patch_size": 0}, "patch_size"),
        ("patches", (SPLIT, 2, 1, 1), {"jitter": -0.1}, "jitter"),
        ("nope", (SPLIT, 2, 1, 1), {}, "unknown sampler 'nope'"),
    ],
)
def test_bad_input_refused_at_construction(kind, args, options, message):
    with pytest.raises(BenchmarkError, match=message):
        build_sampler(kind, *args, **options)


def test_unavailable_device_refused():
    with pytest.raises(BenchmarkError, match="device"):
        build_sampler("labels", SPLIT, 2, 1, 1, device="cuda:7" if not torch.cuda.is_available() else "bogus")


@pytest.mark.parametrize("device", ["cpu", "auto", torch.device("cpu"), None])
def test_samplers_resolve_devices_like_the_rest_of_the_suite(device):
    """One rule (``benchmark.device.resolve_device``): names and ``torch.device`` both work."""
    sampler = build_sampler("labels", SPLIT, 2, 1, 1, device=device)
    assert sampler.device == resolve_device(device)


@pytest.mark.parametrize("device", ["mps", "meta", "cpu:0", "gpu"])
def test_devices_other_than_cpu_and_cuda_are_unknown(device):
    with pytest.raises(BenchmarkError, match=r"unknown device .*expected auto, cpu, cuda or cuda:N"):
        build_sampler("labels", SPLIT, 2, 1, 1, device=device)


@pytest.mark.parametrize("kind", SAMPLERS.names())
@pytest.mark.parametrize("seed", ["1", 1.5, -1, True, None, 2**63])
def test_bad_seed_refused(kind, seed):
    sampler = build_sampler(kind, SPLIT, 2, 1, 1)
    with pytest.raises(BenchmarkError, match="seed"):
        sampler.sample(seed)
    with pytest.raises(BenchmarkError, match="seed"):
        sampler.sample_batch([0, seed])


@settings(max_examples=40, deadline=None)
@given(ways=st.integers(-2, 14), shots=st.integers(-1, 5), queries=st.integers(-1, 5),
       seed=st.integers(0, 2**63 - 1), rotations=st.booleans())
def test_property_valid_draws_or_clear_refusal(ways, shots, queries, seed, rotations):
    split = make_split([3, 4, 5])  # 3 classes, 12 with rotations; smallest class has 3 images
    classes = 12 if rotations else 3
    valid = ways >= 1 and shots >= 1 and queries >= 1 and ways <= classes and shots + queries <= 3
    if not valid:
        with pytest.raises(BenchmarkError):
            LabelSampler(split, ways, shots, queries, rotations=rotations)
        return
    ep = LabelSampler(split, ways, shots, queries, rotations=rotations).sample(seed)
    assert ep.support.shape[0] == ways * shots and ep.query.shape[0] == ways * queries
    assert len(set(ep.class_ids.tolist())) == ways and int(ep.class_ids.max()) < classes


def test_choose_distinct_is_uniform_over_sets_and_orders():
    from itertools import permutations

    import numpy as np
    from scipy.stats import chisquare

    from benchmark.samplers.draws import DISTINCT_UNIFORMS, choose_distinct, uniforms

    draws = choose_distinct(uniforms(range(6000), 2 * DISTINCT_UNIFORMS), 3)  # 2 of 0..2
    assert all(len(set(row)) == 2 for row in draws.tolist())
    outcomes = {p: i for i, p in enumerate(permutations(range(3), 2))}
    counts = np.bincount([outcomes[tuple(row)] for row in draws.tolist()], minlength=6)
    assert chisquare(counts).pvalue > 1e-3


def test_choose_distinct_per_row_populations_on_both_routes():
    """Population 4 (a repeat in a quarter of the first picks, so both the independent-picks
    route and Floyd's route run) and 1000 in alternate rows: every ordered pair equally likely."""
    from itertools import permutations

    import numpy as np
    from scipy.stats import chisquare

    from benchmark.samplers.draws import DISTINCT_UNIFORMS, choose_distinct, uniforms

    population = np.tile([4, 1000], 6000)
    draws = choose_distinct(uniforms(range(12000), 2 * DISTINCT_UNIFORMS), population)
    assert (draws < population[:, None]).all() and (draws[:, 0] != draws[:, 1]).all()
    outcomes = {p: i for i, p in enumerate(permutations(range(4), 2))}
    counts = np.bincount([outcomes[tuple(row)] for row in draws[::2].tolist()], minlength=12)
    assert chisquare(counts).pvalue > 1e-3


def test_uniforms_row_depends_only_on_its_seed():
    from benchmark.samplers.draws import uniforms

    both = uniforms([5, 2**63 - 1], 40)
    assert ((both >= 0) & (both < 1)).all()
    assert (both[0] == uniforms([5], 40)[0]).all()
    assert (both[1, :10] == uniforms([2**63 - 1], 10)[0]).all()
    assert not (both[0] == uniforms([6], 40)[0]).any()


def test_unit_float_is_x_over_255_on_every_path():
    pixels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    on_cpu = unit_float(pixels)
    assert on_cpu.dtype == torch.float32 and on_cpu.min() == 0 and on_cpu.max() == 1
    assert torch.equal(on_cpu, pixels.to(torch.float32).mul_(1 / 255))  # the non-CPU route's ops
    assert torch.allclose(on_cpu.double(), pixels.double() / 255, atol=1e-7, rtol=0)


# --------------------------------------------------------------------------- image_rows


@pytest.mark.parametrize("rotations", [False, True])
def test_label_episodes_are_the_rows_image_rows_names(rotations):
    sampler = build_sampler("labels", SPLIT, 4, 2, 3, rotations=rotations)
    seeds = [3, 11, 2**40]
    rows = sampler.image_rows(seeds)
    assert rows.shape == (3, 4 * (2 + 3)) and rows.dtype == np.int64
    for episode, row in zip(sampler.sample_batch(seeds), rows):
        images = unit_float(sampler.images[torch.from_numpy(row)])
        assert torch.equal(torch.cat([episode.support, episode.query]), images)
    with pytest.raises(BenchmarkError, match="seed"):
        sampler.image_rows([-1])


@pytest.mark.parametrize("kind", ["augment", "patches"])
def test_view_episodes_are_not_rows_of_stored_images(kind):
    sampler = build_sampler(kind, SPLIT, 4, 1, 1)
    assert sampler.image_rows([0, 1]) is None
    assert sampler.images.dtype == torch.uint8 and len(sampler.images) == len(SPLIT)
