"""ViewAugment and the view samplers: per-view independence, reproducibility, known cases."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.split import Split
from benchmark.samplers import build_sampler
from benchmark.transforms import ViewAugment
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
    augment = ViewAugment.simclr(12, 3)
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
    assert ViewAugment.simclr(28, 1).blur_kernel == 3
    assert ViewAugment.simclr(96, 3).blur_kernel == 9
    gray = ViewAugment.simclr(28, 1)
    assert gray.saturation == gray.hue == gray.grayscale_p == 0
    assert ViewAugment.simclr(32, 3, blur_p=0.0, crop_scale=[0.2, 1.0]).crop_scale == (0.2, 1.0)
    with pytest.raises(BenchmarkError, match="crop_scale"):
        ViewAugment.simclr(32, 3, crop_scale=(0.5, 0.1))


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
