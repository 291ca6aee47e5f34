"""Backbones: every registered one builds for 1x28x28 and 3x32x32 and gives [B, out_dim];
``place_model`` decides the memory format."""

from __future__ import annotations

import pytest
import torch

from benchmark.backbones import BACKBONES, Backbone, build_backbone, place_model
from benchmark.errors import BenchmarkError


pytestmark = pytest.mark.usefixtures("one_thread")


EXPECTED_DIM = {("conv4", (1, 28, 28)): 64, ("conv4", (3, 32, 32)): 256}


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("name", BACKBONES.names())
def test_builds_and_embeds(name: str, image_shape: tuple[int, int, int]) -> None:
    backbone = build_backbone(name, image_shape)
    assert isinstance(backbone, Backbone) and isinstance(backbone.out_dim, int) and backbone.training
    out = backbone(torch.rand(3, *image_shape))
    assert out.shape == (3, backbone.out_dim)
    assert backbone.out_dim == EXPECTED_DIM.get((name, image_shape), backbone.out_dim)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_channels_last_gives_the_same_features(name: str) -> None:
    torch.manual_seed(0)
    plain = build_backbone(name, (3, 32, 32)).eval()
    fast = place_model(build_backbone(name, (3, 32, 32)), "cpu").eval()
    fast.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(plain(x), fast(x), atol=1e-4)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_placed_backbone_computes_in_channels_last_whatever_its_input_layout(name: str) -> None:
    """``place_model`` converts the weights only: a contiguous input gives the very features a
    channels-last one does, and the feature maps are channels-last."""
    torch.manual_seed(0)
    backbone = place_model(build_backbone(name, (3, 32, 32)), "cpu").eval()
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in backbone.parameters() if p.dim() == 4)
    x = torch.rand(4, 3, 32, 32)
    first = next(m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        assert torch.equal(backbone(x), backbone(x.contiguous(memory_format=torch.channels_last)))
        assert first(x).is_contiguous(memory_format=torch.channels_last)


def test_place_model_without_channels_last_keeps_the_layout() -> None:
    backbone = place_model(build_backbone("conv4", (3, 32, 32)), "cpu", channels_last=False)
    assert all(p.is_contiguous() for p in backbone.parameters())


@pytest.mark.parametrize("name", ["conv4", "resnet12"])
def test_too_small_image_is_refused_at_build(name: str) -> None:
    with pytest.raises(BenchmarkError, match=f"backbone '{name}' cannot take 3x8x8 images"):
        build_backbone(name, (3, 8, 8))


def test_unknown_backbone_and_bad_shape_are_refused() -> None:
    with pytest.raises(BenchmarkError, match="unknown backbone 'vgg16' .known: conv4, resnet12, resnet18"):
        build_backbone("vgg16", (1, 28, 28))
    with pytest.raises(BenchmarkError, match="image shape must be"):
        build_backbone("conv4", (28, 28))


def test_every_entry_has_a_description() -> None:
    assert all(len(entry.description) > 20 for entry in BACKBONES.entries())


@pytest.mark.parametrize("method, channels_last", [("protonet", True), ("maml", False)])
def test_training_places_a_method_in_the_format_its_steps_run_fastest(method: str,
                                                                     channels_last: bool) -> None:
    """The trainer's channels-last weights, except for a method they slow (MAML's inner loop)."""
    from benchmark.methods import build_method
    from benchmark.train import TrainConfig, place

    model = build_method(method, "conv4", (1, 28, 28))
    place(model, TrainConfig(device="cpu", progress=False, tensorboard=False))
    convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1]  # 1 channel: both
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) == channels_last
                         for p in convs)
