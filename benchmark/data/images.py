"""Decoding encoded images, and converting any image into a ``uint8`` array ``[C, H, W]``."""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from benchmark.errors import BenchmarkError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
#: ITU-R 601 luma weights of R, G, B: the grey of a colour image (data conversion, view augmentation).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def is_image_name(name: str) -> bool:
    """Whether a file name has an image suffix (hidden files excluded)."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_SUFFIXES)


def decode(data: bytes, where: str) -> Image.Image:
    """The fully decoded PIL image; a BenchmarkError naming ``where`` if it cannot be decoded."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as err:  # whatever PIL's readers raise (a decompression bomb, a bad
        # header's struct.error, ...) means the file cannot be decoded
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchmarkError(f"cannot decode image {where}: {reason}") from None
    return image


def to_uint8(image: Image.Image | np.ndarray | torch.Tensor, channels: int | None = None,
             size: tuple[int, int] | None = None, *, float_max: float = 1.0) -> np.ndarray:
    """Any one image as a ``uint8`` array ``[C, H, W]``: the suite's only converter.

    Args:
        image: a PIL image; a numpy array ``[H, W]`` or ``[H, W, C]`` (PIL's layout); or a
            tensor ``[H, W]`` or ``[C, H, W]`` (torch's layout).
        channels: 1 (grey) or 3 (RGB) to convert a PIL image to; None keeps its mode.
        size: ``(H, W)`` to resize to when different: Lanczos for a PIL image, bilinear with
            antialiasing (on float32) for an array or tensor.
        float_max: the value of white in float images: 1.0 for ``[0, 1]`` (torchvision's
            ``ToTensor``), 255.0 for ``0..255``.

    Values: ``uint8`` as they are; ``bool`` → 0 / 255; other integers clamped to ``0..255``;
    floats clamped to ``[0, float_max]``, scaled to ``0..255`` and rounded.
    """
    if isinstance(image, Image.Image):
        if channels is not None:
            image = image.convert("L" if channels == 1 else "RGB")
        if size is not None and (image.height, image.width) != tuple(size):
            image = image.resize((size[1], size[0]), Image.Resampling.LANCZOS)
        image = np.asarray(image)
    if isinstance(image, torch.Tensor):
        tensor = image
    else:
        tensor = torch.from_numpy(np.array(image))
        tensor = tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    if tensor.dim() == 2:
        tensor = tensor[None]
    if size is not None and tuple(tensor.shape[-2:]) != tuple(size):
        tensor = F.interpolate(tensor.float()[None], size=tuple(size), mode="bilinear",
                               antialias=True, align_corners=False)[0]
    if tensor.dtype == torch.uint8:
        pass
    elif tensor.is_floating_point():
        tensor = (tensor.clamp(0, float_max) * (255 / float_max)).round().to(torch.uint8)
    elif tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8) * 255
    else:
        tensor = tensor.clamp(0, 255).to(torch.uint8)
    return tensor.cpu().numpy()


def channels_of(image: Image.Image) -> int:
    """1 for grey-level modes, 3 otherwise."""
    return 1 if image.mode in GRAY_MODES else 3
