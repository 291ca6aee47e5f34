"""Feature extractors (a registry): Conv-4, ResNet-12 and a small-image ResNet-18, and any
encoder of another library as ``library:model`` (``torchvision:resnet18``, ``timm:vit_small_patch16_224``;
``benchmark.external``).

Every registered builder takes ``in_channels`` and returns an ``nn.Module`` mapping
``[B, C, H, W]`` to a feature map or vector; ``build_backbone`` wraps it in a ``Backbone`` that
flattens to ``[B, out_dim]`` and checks, by a dry forward at build time, that the image size fits.
``load_weights`` loads a weights file (or the library's own weights) into a backbone.
``place_model`` puts a model on a device in the suite's memory format.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping, TypeVar

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.external import ExternalEncoder, build_external, is_external, read_state_dict
from benchmark.registry import Entry, Registry

Builder = Callable[[int], nn.Module]
M = TypeVar("M", bound=nn.Module)

#: ``load_weights`` source meaning "the library's own pretrained weights" (a download).
LIBRARY_WEIGHTS = "library"


class BackboneRegistry(Registry[Builder]):
    """The backbone registry: registered names, and ``library:model`` for any encoder of a
    library in ``benchmark.external.LIBRARIES`` (resolved when asked for, not listed)."""

    def get(self, name: str) -> Builder:
        if is_external(name):
            library = name.partition(":")[0]
            from benchmark.external import LIBRARIES

            LIBRARIES.get(library)  # an unknown library fails here, when a spec is read
            return partial(build_external, name)
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and is_external(name)) or super().__contains__(name)

    def entries(self) -> list[Entry[Builder]]:
        """The registered backbones, then one ``library:NAME`` line per library (what
        ``benchmark list backbones`` prints)."""
        from benchmark.external import LIBRARIES

        return super().entries() + [
            Entry(f"{e.name}:NAME", partial(build_external, e.name), f"any model of {e.description}")
            for e in LIBRARIES.entries()]


BACKBONES = BackboneRegistry("backbone")


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 - BatchNorm - ReLU - maxpool 2x2 (one block of Snell et al.'s Conv-4)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


@BACKBONES.register("conv4", "Conv-4 (Snell et al. 2017): 4 x [conv3x3(64)-BN-ReLU-maxpool2], flattened")
def conv4(in_channels: int) -> nn.Module:
    """Conv-4: 28x28 → 64 features, 32x32 → 256, 84x84 → 1600."""
    return nn.Sequential(
        _conv_block(in_channels, 64), _conv_block(64, 64), _conv_block(64, 64), _conv_block(64, 64)
    )


class _ResNet12Block(nn.Module):
    """Three conv3x3-BN-LeakyReLU(0.1) layers with a 1x1 conv shortcut, then maxpool 2x2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers.append(nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False))
            layers.append(nn.BatchNorm2d(out_channels))
            if i < 2:
                layers.append(nn.LeakyReLU(0.1))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.out = nn.Sequential(nn.LeakyReLU(0.1), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


@BACKBONES.register(
    "resnet12", "ResNet-12 (Lee et al. 2019): 4 residual blocks (64-160-320-640), global average pool → 640"
)
def resnet12(in_channels: int) -> nn.Module:
    """The few-shot ResNet-12 (as in MetaOptNet and learn2learn, without DropBlock), any image size ≥ 16."""
    widths = (64, 160, 320, 640)
    blocks = [_ResNet12Block(c_in, c_out) for c_in, c_out in zip((in_channels,) + widths[:-1], widths)]
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1))


@BACKBONES.register(
    "resnet18", "torchvision ResNet-18 with a small-image stem (3x3 conv, stride 1, no maxpool), fc removed → 512"
)
def resnet18(in_channels: int) -> nn.Module:
    """torchvision's ResNet-18 for 32x32 images: 3x3 stride-1 first conv, no max-pool, no fc."""
    from torchvision.models import resnet18 as torchvision_resnet18  # about 1 s: when used

    net = torchvision_resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net


class Backbone(nn.Module):
    """A registered feature extractor, flattened to ``[B, out_dim]``.

    Attributes:
        name: registered backbone name.
        image_shape: ``(C, H, W)`` it was built (and checked) for.
        out_dim: embedding size for ``image_shape``.
    """

    def __init__(self, name: str, net: nn.Module, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.name = name
        self.net = net
        self.image_shape = image_shape
        self.out_dim = self._dry_run()

    def _dry_run(self) -> int:
        """``out_dim`` from a forward pass on zeros; BenchmarkError if the size does not fit."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self(torch.zeros((2, *self.image_shape)))
        except RuntimeError as exc:
            raise BenchmarkError(
                f"backbone {self.name!r} cannot take {'x'.join(map(str, self.image_shape))} images "
                f"(C x H x W): {str(exc).splitlines()[0]}"
            ) from None
        finally:
            self.train(was_training)
        if out.shape[1] == 0:
            raise BenchmarkError(
                f"backbone {self.name!r} cannot take {'x'.join(map(str, self.image_shape))} images: no features left"
            )
        return int(out.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch.

        Shape:
            x: ``[B, C, H, W]`` float in ``[0, 1]``. Output: ``[B, out_dim]``.
        """
        return self.net(x).flatten(1)


def build_backbone(name: str, image_shape: tuple[int, int, int]) -> Backbone:
    """Build the backbone registered as ``name`` for ``(C, H, W)`` images.

    Raises:
        BenchmarkError: unknown name, or an image size the backbone cannot take.
    """
    builder = BACKBONES.get(name)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise BenchmarkError(f"backbone {name!r}: image shape must be (C, H, W) with positive sizes, got {image_shape}")
    image_shape = tuple(int(s) for s in image_shape)  # type: ignore[assignment]
    return Backbone(name, builder(image_shape[0]), image_shape)


def _below(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries under ``prefix`` (unprefixed) when some keys have it; else all of them."""
    inner = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return inner or dict(state)


def load_weights(backbone: Backbone, source: str) -> None:
    """Load weights into ``backbone``: from a file (a ``.pth`` state dict of the model, a
    timm or torchvision checkpoint, or a benchmark checkpoint, whose backbone is taken), or
    ``LIBRARY_WEIGHTS`` for a ``library:model`` backbone's own pretrained weights.

    A full model's classifier weights are ignored (the backbone has no classifier).

    Raises:
        BenchmarkError: an unreadable file, weights of another model (missing or unexpected
            keys, other shapes), or library weights asked of a suite backbone.
    """
    external = isinstance(backbone.net, ExternalEncoder)
    target = backbone.net.model if external else backbone.net
    if source == LIBRARY_WEIGHTS:
        if not external:
            raise BenchmarkError(f"backbone {backbone.name!r} has no library weights; give a weights file")
        state: Mapping[str, Any] = backbone.net.library_weights()
    else:
        state = read_state_dict(source)
    for prefix in ("backbone.", "net.", "model.") if external else ("backbone.", "net."):
        state = _below(state, prefix)
    head = backbone.net.head if external else ()
    wanted = set(target.state_dict())
    missing = sorted(wanted - set(state))
    unexpected = sorted(k for k in set(state) - wanted if not k.startswith(head))
    if missing or unexpected:
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}" if missing else "",
            f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"
            if unexpected else "") if part)
        raise BenchmarkError(f"weights {source} do not fit backbone {backbone.name!r} ({detail})")
    if any(p.is_meta for p in target.parameters()):
        return  # built on the meta device (a preflight's shape check): the keys fit, no values
    try:
        target.load_state_dict({k: state[k] for k in wanted})
    except RuntimeError as err:
        first = " ".join(str(err).split("\n\t")[1:2]) or str(err).splitlines()[0]
        raise BenchmarkError(f"weights {source} do not fit backbone {backbone.name!r} ({first.strip()})") from None


def place_model(model: M, device: torch.device | str, channels_last: bool = True) -> M:
    """``model`` moved (in place) to ``device`` in the suite's memory format; the one place that
    decides it, for training, the random floor and checkpoint evaluation alike.

    With ``channels_last`` (the suite's format; training follows ``TrainConfig.channels_last``)
    every 4-D weight becomes channels-last, which makes convolutions about 1.3x faster on CPU.
    Inputs need no conversion: a convolution whose weight is channels-last computes in
    channels-last whatever the layout of its input, and so do the layers after it. Without
    ``channels_last`` the weights keep the layout they have (contiguous, as built).

    Returns:
        ``model`` itself.
    """
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model
