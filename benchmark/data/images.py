"""Decoding encoded images into ``uint8`` arrays ``[C, H, W]``."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.errors import BenchmarkError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def is_image_name(name: str) -> bool:
    """Whether a file name has an image suffix (hidden files excluded)."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_SUFFIXES)


def decode(data: bytes, where: str) -> Image.Image:
    """The fully decoded PIL image; a BenchmarkError naming ``where`` if it cannot be decoded."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BenchmarkError(f"cannot decode image {where}: {err}") from None
    return image


def to_array(image: Image.Image, channels: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """``uint8`` array ``[C, H, W]`` with ``channels`` (1 or 3), resized to ``size=(H, W)`` if given.

    Resizing uses Lanczos filtering on the grey-level or RGB image.
    """
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and (image.height, image.width) != tuple(size):
        image = image.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def channels_of(image: Image.Image) -> int:
    """1 for grey-level modes, 3 otherwise."""
    return 1 if image.mode in GRAY_MODES else 3
