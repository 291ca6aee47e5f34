"""Input conversion for cross-domain evaluation: a whole split brought to a model's image shape.

A model takes images of one shape (its training images'). To evaluate it on data of another
shape, the evaluation split is converted once, before any episode is drawn, so the fixed test
episodes are the same converted images for every method: RGB → grey by the ITU-R 601 luma
weights (``benchmark.data.images.GRAY_WEIGHTS``), grey → RGB by replication, then a resize by
antialiased bilinear interpolation, rounded back to uint8. The converted split is named
``<split>→<tag>`` (``fewshot_test→auto``), and ``convert_for`` says in words what was done, so
every result row records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.spec import limits
from benchmark.data.images import GRAY_WEIGHTS
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.spec.schema import Invalid, Reader, check_fields, setting
from benchmark.split_names import evaluated_split

Shape = tuple[int, int, int]
#: Images converted per pass (bounds the float32 working memory).
_CHUNK = 4096
#: What a spec's ``convert: auto`` (and ``--convert auto``) stands for.
AUTO = "auto"


def shape_text(shape: Shape) -> str:
    """``1x28x28``."""
    return "x".join(map(str, shape))


@dataclass(frozen=True)
class InputConversion:
    """How evaluation images are brought to the model's input shape.

    ``InputConversion()`` (``convert: auto``) converts to whatever shape the model takes;
    ``channels`` and ``size`` given say which shape that must be (a model taking another
    shape is refused).
    """

    channels: int | None = setting(None, minimum=1, doc="1 (grey) or 3 (RGB)")
    size: int | None = setting(None, minimum=1, maximum=limits.MAX_IMAGE_SIDE,
                               doc="side of the square images, in pixels")

    def __post_init__(self) -> None:
        check_fields(self, "input conversion")
        if self.channels not in (None, 1, 3):
            raise Invalid(f"expected 1 (grey) or 3 (RGB), got {self.channels}", "channels")
        if (self.channels is None) != (self.size is None):
            raise Invalid(f"give both channels and size, or write {AUTO!r} for the models' shape")

    @property
    def tag(self) -> str:
        """``auto`` or the shape asked for, e.g. ``1x28x28``."""
        if self.channels is None or self.size is None:
            return AUTO
        return shape_text((self.channels, self.size, self.size))

    def split_name(self, split: str) -> str:
        """The converted split's name: ``fewshot_test→auto``."""
        return evaluated_split(split, self.tag)

    def target(self, model_shape: Shape) -> Shape:
        """The shape images are converted to for a model taking ``model_shape`` images.

        Raises:
            BenchmarkError: ``channels`` and ``size`` given that are not ``model_shape``.
        """
        if self.channels is None or self.size is None:
            return tuple(model_shape)  # type: ignore[return-value]
        asked = (self.channels, self.size, self.size)
        if asked != tuple(model_shape):
            raise BenchmarkError(f"the conversion gives {shape_text(asked)} images but the model "
                                 f"takes {shape_text(model_shape)} images (use {AUTO!r})")
        return asked


def parse_conversion(text: str, origin: str = "--convert") -> InputConversion:
    """``auto`` or ``channels=C,size=S`` (a command line's form) as an ``InputConversion``.

    Raises:
        BenchmarkError: one line naming ``origin`` and what is wrong.
    """
    if text.strip() == AUTO:
        return InputConversion()
    values: dict[str, object] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key:
            raise BenchmarkError(f"{origin}: expected {AUTO} or channels=C,size=S, got {text!r}")
        values[key] = int(value) if value.lstrip("-").isdigit() else value
    return Reader(origin).read(InputConversion, values, "")


def _luma(images: torch.Tensor) -> torch.Tensor:
    weights = images.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


#: (from channels, to channels) → (what is done, how): the channel conversions there are.
CHANNEL_CONVERSIONS: dict[tuple[int, int], tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    (3, 1): ("RGB→grey (ITU-R 601 luma)", _luma),
    (1, 3): ("grey→RGB (replicated)", lambda images: images.expand(-1, 3, -1, -1)),
}


def _channels(source: int, target: int) -> tuple[str, Callable[[torch.Tensor], torch.Tensor]]:
    try:
        return CHANNEL_CONVERSIONS[(source, target)]
    except KeyError:
        known = ", ".join(text for text, _ in CHANNEL_CONVERSIONS.values())
        raise BenchmarkError(f"cannot convert {source}-channel images to {target} channels "
                             f"(conversions: {known})") from None


def describe(source: Shape, target: Shape) -> str:
    """What converting ``source`` images to ``target`` does, e.g. ``RGB→grey (ITU-R 601 luma),
    32x32→28x28 bilinear (antialiased)``; ``none (already 1x28x28)`` when nothing changes.

    Raises:
        BenchmarkError: channel counts there is no conversion between.
    """
    steps = []
    if source[0] != target[0]:
        steps.append(_channels(source[0], target[0])[0])
    if source[1:] != target[1:]:
        steps.append(f"{source[1]}x{source[2]}→{target[1]}x{target[2]} bilinear (antialiased)")
    return ", ".join(steps) or f"none (already {shape_text(target)})"


def convert_images(images: torch.Tensor, target: Shape) -> torch.Tensor:
    """``uint8 [N, C, H, W]`` images as ``uint8 [N, *target]``: channels converted, then resized
    (bilinear, antialiased), rounded to the nearest integer."""
    n, channels, height, width = images.shape
    to_channels, size = target[0], (target[1], target[2])
    convert = _channels(channels, to_channels)[1] if channels != to_channels else None
    out = torch.empty((n, *target), dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        chunk = images[start:start + _CHUNK].to(torch.float32)
        if convert is not None:
            chunk = convert(chunk)
        if (height, width) != size:
            chunk = F.interpolate(chunk, size=size, mode="bilinear", align_corners=False,
                                  antialias=True)
        out[start:start + _CHUNK] = chunk.round().clamp_(0, 255).to(torch.uint8)
    return out


def convert_for(split: Split, conversion: InputConversion,
                model_shape: Shape) -> tuple[Split, str]:
    """``split`` converted for a model taking ``model_shape`` images (named
    ``conversion.split_name(split.name)``), and what was done (``describe``).

    Raises:
        BenchmarkError: a conversion asking for another shape than ``model_shape``, or channel
            counts there is no conversion between.
    """
    target = conversion.target(model_shape)
    done = describe(split.image_shape, target)
    images = split.images if split.image_shape == target else convert_images(split.images, target)
    converted = Split(dataset=split.dataset, name=conversion.split_name(split.name), images=images,
                      labels=split.labels, class_names=split.class_names)
    return converted, done
