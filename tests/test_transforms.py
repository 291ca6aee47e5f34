"""ViewAugment and the view samplers: per-view independence, reproducibility, known cases."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.split import Split
from benchmark.samplers import build_sampler
from benchmark.transforms import ViewAugment, build_preset, preset_for_kind
from benchmark.transforms.ops import affine_grid, gaussian_blur
from benchmark.transforms.view_augment import NUM_UNIFORMS
from benchmark.errors import BenchmarkError

OFF = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0,
           grayscale_p=0.0, blur_p=0.0)


def images(m: int = 6, channels: int = 3, size: int = 12) -> torch.Tensor:
    return torch.rand(m, channels, size, size, generator=torch.Generator().manual_seed(0))


def split(channels: int = 3, size: int = 16) -> Split:
    count = 20
    data = (images(count, channels, size) * 255).to(torch.uint8)
    return Split("toy", "train", data, torch.arange(count) % 4, ("a", "b", "c", "d"))


@pytest.mark.parametrize("channels", [1, 3])
def test_two_views_of_one_image_differ_and_seed_reproduces_them(channels):
    sampler = build_sampler("augment", split(channels), ways=8, shots=1, queries=1)
    ep = sampler.sample(3)
    assert ep.support.shape == ep.query.shape == (8, channels, 16, 16)
    differences = (ep.support - ep.query).flatten(1).abs().amax(1)
    assert bool((differences > 1e-3).all())
    again = build_sampler("augment", split(channels), ways=8, shots=1, queries=1).sample(3)
    assert torch.equal(ep.support, again.support) and torch.equal(ep.query, again.query)


def test_views_of_one_batch_have_independent_parameters():
    augment = build_preset("simclr", (12, 12), 3)
    same = images(1).expand(32, -1, -1, -1).contiguous()
    views = augment.sample(same, torch.Generator().manual_seed(0)).flatten(1)
    distances = torch.cdist(views, views) + torch.eye(32) * 1e3
    assert float(distances.min()) > 1e-3  # no two of the 32 views are equal


def test_all_knobs_off_is_the_identity():
    x = images()
    out = ViewAugment(size=(12, 12), **OFF)(x, torch.rand(6, NUM_UNIFORMS))
    assert torch.allclose(out, x, atol=1e-5)


def test_flip_and_grayscale_and_blur_known_results():
    x = images()
    u = torch.rand(6, NUM_UNIFORMS)
    flipped = ViewAugment(size=(12, 12), **{**OFF, "flip_p": 1.0})(x, u)
    assert torch.allclose(flipped, x.flip(-1), atol=1e-5)
    gray = ViewAugment(size=(12, 12), **{**OFF, "grayscale_p": 1.0})(x, u)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    flat = torch.full((3, 3, 12, 12), 0.4)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([0.5, 1.0, 2.0]), 5), flat, atol=1e-6)


def test_affine_grid_matches_torch():
    theta = torch.randn(4, 2, 3)
    ours = affine_grid(theta, (5, 7))
    ref = torch.nn.functional.affine_grid(theta, [4, 1, 5, 7], align_corners=False)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_simclr_recipe_scales_with_image_size_and_takes_knobs():
    assert build_preset("simclr", (28, 28), 1).blur_kernel == 3
    assert build_preset("simclr", (96, 96), 3).blur_kernel == 9
    gray = build_preset("simclr", (28, 28), 1)
    assert gray.saturation == gray.hue == gray.grayscale_p == 0
    tuned = build_preset("simclr", (32, 32), 3).with_knobs({"blur_p": 0.0, "crop_scale": [0.2, 1.0]})
    assert tuned.crop_scale == (0.2, 1.0) and tuned.blur_p == 0.0
    with pytest.raises(BenchmarkError, match="crop_scale"):
        build_preset("simclr", (32, 32), 3).with_knobs({"crop_scale": (0.5, 0.1)})
    with pytest.raises(BenchmarkError, match="unknown"):
        build_preset("simclr", (32, 32), 3).with_knobs({"crop_size": 3})


def test_each_dataset_kind_has_its_preset_and_glyphs_are_never_flipped():
    assert preset_for_kind("natural") == "simclr" and preset_for_kind("glyphs") == "glyphs"
    glyphs = build_preset("glyphs", (28, 28), 1)
    assert glyphs.flip_p == 0 and glyphs.crop_scale[0] >= 0.5 and glyphs.jitter_p == 0
    with pytest.raises(BenchmarkError, match="kind"):
        preset_for_kind("sounds")


def test_erasing_zeroes_one_rectangle_of_the_asked_area_and_nothing_else():
    x = torch.full((4, 1, 20, 20), 0.5)
    u = torch.rand(4, NUM_UNIFORMS, generator=torch.Generator().manual_seed(1))
    u[:, 17] = 0.0  # apply
    u[:, 18] = 1.0  # the largest area of erase_scale
    u[:, 19] = 0.5  # ratio 1
    out = ViewAugment(size=(20, 20), **OFF, erase_p=1.0, erase_scale=(0.01, 0.25))(x, u)
    zeros = (out == 0).flatten(1).sum(1)
    assert torch.equal(zeros, torch.full((4,), 100))  # a 10 x 10 square of 400 pixels
    rows, cols = torch.nonzero(out[0, 0] == 0, as_tuple=True)
    assert int(rows.max() - rows.min()) == 9 and int(cols.max() - cols.min()) == 9
    assert bool((out[out != 0] == 0.5).all())
    u[:, 17] = 0.99  # not applied
    assert torch.equal(ViewAugment(size=(20, 20), **OFF, erase_p=0.5)(x, u), x)


def test_identity_is_the_image_resized():
    x = images(3, 1, 12)
    augment = build_preset("glyphs", (12, 12), 1)
    assert torch.equal(augment.identity(x), x)
    assert augment.with_knobs({"size": (6, 6)}).identity(x).shape == (3, 1, 6, 6)


def test_unaugmented_support_is_the_image_and_queries_stay_augmented():
    data = split(1, 16)
    sampler = build_sampler("augment", data, 5, 1, 3, augment_support=False)
    ep = sampler.sample(2)
    originals = data.images[ep.class_ids].float() / 255
    assert torch.allclose(ep.support, originals)
    queries = ep.query.view(3, 5, 1, 16, 16)  # query views are ordered view-major
    assert bool(((queries - originals[None]).flatten(2).abs().amax(2) > 1e-3).all())
    assert not torch.allclose(build_sampler("augment", data, 5, 1, 3).sample(2).support, originals)


def test_the_preset_follows_the_dataset_kind_unless_the_spec_names_one():
    grey = split(1, 28)
    glyph_split = Split("omniglot", "background", grey.images, grey.labels, grey.class_names)
    assert build_sampler("augment", glyph_split, 4, 1, 1).augment == build_preset("glyphs", (28, 28), 1)
    assert build_sampler("augment", grey, 4, 1, 1).augment == build_preset("simclr", (28, 28), 1)
    named = build_sampler("augment", glyph_split, 4, 1, 1, preset="simclr", augment={"flip_p": 0.0})
    assert named.augment == build_preset("simclr", (28, 28), 1).with_knobs({"flip_p": 0.0})
    with pytest.raises(BenchmarkError, match="preset"):
        build_sampler("augment", grey, 4, 1, 1, preset="nope")


def test_patches_of_one_class_are_neighbours():
    data = split(3, 16)
    whole = build_sampler("patches", data, 4, 1, 1, patch_size=1.0).sample(0)
    originals = data.images[whole.class_ids].float() / 255
    assert torch.allclose(whole.support, originals, atol=1e-5)
    same_spot = build_sampler("patches", data, 4, 2, 2, jitter=0.0, size=8).sample(1)
    assert same_spot.support.shape == (8, 3, 8, 8)
    assert torch.allclose(same_spot.support[0], same_spot.query[0]) and torch.allclose(
        same_spot.support[0], same_spot.support[1])
    moved = build_sampler("patches", data, 4, 2, 2, jitter=0.2).sample(1)
    assert not torch.allclose(moved.support[0], moved.support[1])
