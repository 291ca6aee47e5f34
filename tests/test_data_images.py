"""``data.images.to_uint8``: the one converter of any image to ``uint8 [C, H, W]``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data.images import to_uint8

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)


def test_pil_images_are_converted_to_the_asked_channels_and_size() -> None:
    image = Image.fromarray(RGB, "RGB")
    assert np.array_equal(to_uint8(image), RGB.transpose(2, 0, 1))
    assert np.array_equal(to_uint8(image, 3), RGB.transpose(2, 0, 1))
    grey = to_uint8(image, 1)
    assert grey.shape == (1, 6, 5) and np.array_equal(grey[0], np.asarray(image.convert("L")))
    resized = image.resize((4, 3), Image.Resampling.LANCZOS)
    assert np.array_equal(to_uint8(image, 3, (3, 4)), np.asarray(resized).transpose(2, 0, 1))


def test_arrays_are_hwc_and_tensors_chw() -> None:
    assert np.array_equal(to_uint8(RGB), RGB.transpose(2, 0, 1))
    assert np.array_equal(to_uint8(torch.from_numpy(RGB).permute(2, 0, 1)), RGB.transpose(2, 0, 1))
    assert to_uint8(RGB[:, :, 0]).shape == to_uint8(torch.from_numpy(RGB[:, :, 0])).shape == (1, 6, 5)


def test_values_by_dtype() -> None:
    floats = torch.tensor([[[-0.5, 0.0, 0.5, 1.0, 2.0]]])
    assert to_uint8(floats).tolist() == [[[0, 0, 128, 255, 255]]]
    assert to_uint8(floats * 255, float_max=255.0).tolist() == [[[0, 0, 128, 255, 255]]]
    assert to_uint8(torch.tensor([[[True, False]]])).tolist() == [[[255, 0]]]
    assert to_uint8(torch.tensor([[[-3, 7, 300]]])).tolist() == [[[0, 7, 255]]]
    assert to_uint8(np.array([[0.25]], dtype=np.float64)).tolist() == [[[64]]]


def test_tensors_are_resized_bilinear_with_antialiasing() -> None:
    x = torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0)) * 255
    expected = torch.nn.functional.interpolate(x[None], size=(84, 84), mode="bilinear", antialias=True,
                                               align_corners=False)[0].round().clamp(0, 255)
    out = to_uint8(x, size=(84, 84), float_max=255.0)
    assert out.dtype == np.uint8 and np.array_equal(out, expected.to(torch.uint8).numpy())


@pytest.mark.parametrize("item", [Image.fromarray(RGB, "RGB"), torch.rand(3, 84, 84) * 255])
def test_learn2learn_sets_items_become_84x84_colour(item) -> None:
    from benchmark.data.learn2learn_sets import _to_array

    out = _to_array(item)
    assert out.shape == (3, 84, 84) and out.dtype == np.uint8
