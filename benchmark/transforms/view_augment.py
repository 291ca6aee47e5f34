"""Batched view augmentation with independent random parameters per view.

``ViewAugment`` turns images ``[M, C, H, W]`` (float in ``[0, 1]``) and one row of
uniforms per view ``[M, NUM_UNIFORMS]`` into views ``[M, C, h, w]``. Every view gets its
own crop, flip, affine warp, colour jitter, grayscale, blur and erased rectangle, all
applied as a few batched tensor ops (one ``grid_sample`` for the whole geometry, one grouped
convolution per blur pass, one mask for the erasing) on the images' device. The uniforms are an argument, so the caller decides
where randomness comes from (the samplers draw them per seed; ``sample`` uses a generator).

Unlike ``torchvision.transforms.v2``, which draws one parameter set for a whole batch,
nothing here is shared between views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

import torch

from benchmark.errors import BenchmarkError, refuse_unknown
from benchmark.data.images import GRAY_WEIGHTS
from benchmark.transforms.ops import box_theta, crop_resize, gaussian_blur, hue_matrix

#: Uniforms used per view, whatever knobs are on (so a seed maps to the same draws):
#: crop 4 (scale, log-ratio, x, y), flip 1, affine 4 (angle, tx, ty, shear),
#: jitter 5 (apply, brightness, contrast, saturation, hue), grayscale 1, blur 2 (apply, sigma),
#: erase 5 (apply, area, log-ratio, x, y).
NUM_UNIFORMS = 22


def _between(u: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * u


@dataclass(frozen=True)
class ViewAugment:
    """A parameterised, batched view augmentation; every knob is a field.

    Order per view: random resized crop + horizontal flip + affine (one warp), colour
    jitter (brightness, contrast, saturation, hue; fixed order), random grayscale,
    Gaussian blur, random erasing (a rectangle set to 0, as torchvision's RandomErasing). Colour knobs beyond brightness and contrast apply to RGB only; the
    colour steps are composed into one matrix per view (see ``colour``). Hue is shifted by rotating the chroma plane in YIQ space (a close, cheap stand-in for
    torchvision's HSV shift). Crops whose sides would exceed the image are clamped to it.

    Attributes:
        size: output ``(h, w)``.
        crop_scale: range of the crop's area as a fraction of the image.
        crop_ratio: range of the crop's aspect ratio (w/h), sampled log-uniformly.
        flip_p: probability of a horizontal flip.
        degrees: rotation drawn in ``[-degrees, degrees]``.
        translate: translation drawn in ``[-translate, translate]`` (fraction of the side).
        shear: shear angle drawn in ``[-shear, shear]`` degrees.
        jitter_p: probability of applying colour jitter.
        brightness, contrast, saturation: factor drawn in ``[1-x, 1+x]``.
        hue: hue shift drawn in ``[-hue, hue]`` (fraction of a turn, at most 0.5).
        grayscale_p: probability of grayscale (RGB only).
        blur_p: probability of Gaussian blur.
        blur_kernel: odd kernel side.
        blur_sigma: range of the blur's sigma (pixels).
        padding_mode: ``grid_sample`` padding outside the image: zeros, border, reflection.
        erase_p: probability of erasing a rectangle.
        erase_scale: range of the rectangle's area as a fraction of the view.
        erase_ratio: range of its aspect ratio (w/h), sampled log-uniformly.
    """

    size: tuple[int, int]
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    degrees: float = 0.0
    translate: float = 0.0
    shear: float = 0.0
    jitter_p: float = 0.8
    brightness: float = 0.8
    contrast: float = 0.8
    saturation: float = 0.8
    hue: float = 0.2
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_kernel: int = 3
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    padding_mode: str = "zeros"
    erase_p: float = 0.0
    erase_scale: tuple[float, float] = (0.02, 0.33)
    erase_ratio: tuple[float, float] = (0.3, 3.3)

    def __post_init__(self) -> None:
        problems = []
        if len(self.size) != 2 or min(self.size) < 1:
            problems.append(f"size must be (h, w) >= 1, got {self.size}")
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            problems.append(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            problems.append(f"crop_ratio must satisfy 0 < low <= high, got {self.crop_ratio}")
        if not 0 < self.erase_scale[0] <= self.erase_scale[1] <= 1:
            problems.append(f"erase_scale must satisfy 0 < low <= high <= 1, got {self.erase_scale}")
        if not 0 < self.erase_ratio[0] <= self.erase_ratio[1]:
            problems.append(f"erase_ratio must satisfy 0 < low <= high, got {self.erase_ratio}")
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "erase_p"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a probability, got {getattr(self, name)}")
        for name in ("degrees", "translate", "shear", "brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            problems.append(f"hue must be in [0, 0.5], got {self.hue}")
        if self.blur_kernel < 1 or self.blur_kernel % 2 == 0:
            problems.append(f"blur_kernel must be odd and >= 1, got {self.blur_kernel}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            problems.append(f"blur_sigma must satisfy 0 < low <= high, got {self.blur_sigma}")
        if self.padding_mode not in ("zeros", "border", "reflection"):
            problems.append(f"padding_mode must be zeros, border or reflection, got {self.padding_mode!r}")
        if problems:
            raise BenchmarkError("view augmentation: " + "; ".join(problems))

    def with_knobs(self, knobs: Mapping[str, Any]) -> "ViewAugment":
        """A copy with some fields changed; BenchmarkError on an unknown knob."""
        refuse_unknown("view augmentation", "knob", knobs, sorted(f.name for f in fields(self)))
        tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()}
        return replace(self, **tuples)

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Views of ``images [M, C, H, W]`` with uniforms from ``generator`` (CPU)."""
        u = torch.rand(images.shape[0], NUM_UNIFORMS, generator=generator)
        return self(images, u.to(images.device))

    def __call__(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Augment each image with its own parameters.

        Args:
            images: ``[M, C, H, W]`` float in ``[0, 1]``.
            u: ``[M, NUM_UNIFORMS]`` uniforms in ``[0, 1)``, one row per view.

        Returns:
            ``[M, C, h, w]`` float in ``[0, 1]``.
        """
        u = u.to(images.dtype)
        views = crop_resize(images, self.geometry(u, images.shape[-2:]), self.size, self.padding_mode)
        views = self.colour(views, u[:, 9:15])
        if self.blur_p > 0:
            blurred = torch.nonzero(u[:, 15] < self.blur_p).flatten()
            sigma = _between(u[blurred, 16], *self.blur_sigma)
            smooth = gaussian_blur(views[blurred], sigma, self.blur_kernel).clamp_(0, 1)
            views = views.index_copy(0, blurred, smooth)
        if self.erase_p > 0:
            views = self.erase(views, u[:, 17:22])
        return views

    def erase(self, views: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Random erasing from ``u [M, 5]`` (apply, area, log-ratio, x, y): a rectangle of
        each chosen view (inside it, every channel) is set to 0."""
        m, _, height, width = views.shape
        area = _between(u[:, 1], *self.erase_scale) * height * width
        ratio = torch.exp(_between(u[:, 2], math.log(self.erase_ratio[0]), math.log(self.erase_ratio[1])))
        box_h = torch.sqrt(area / ratio).round().clamp(1, height)  # whole pixels, as torchvision
        box_w = torch.sqrt(area * ratio).round().clamp(1, width)
        top = torch.floor(u[:, 4] * (height - box_h + 1)).clamp(max=height - box_h)
        left = torch.floor(u[:, 3] * (width - box_w + 1)).clamp(max=width - box_w)
        ys = torch.arange(height, device=views.device, dtype=views.dtype).view(1, height, 1)
        xs = torch.arange(width, device=views.device, dtype=views.dtype).view(1, 1, width)
        inside = ((ys >= top.view(m, 1, 1)) & (ys < (top + box_h).view(m, 1, 1))
                  & (xs >= left.view(m, 1, 1)) & (xs < (left + box_w).view(m, 1, 1)))
        erased = inside & (u[:, 0] < self.erase_p).view(m, 1, 1)
        return views.masked_fill(erased[:, None], 0.0)

    def identity(self, images: torch.Tensor) -> torch.Tensor:
        """The un-augmented views: each whole image resampled to ``size`` (bilinear)."""
        if tuple(images.shape[-2:]) == tuple(self.size):
            return images
        m = images.shape[0]
        theta = torch.eye(2, 3, dtype=images.dtype, device=images.device).expand(m, 2, 3)
        return crop_resize(images, theta, self.size, self.padding_mode)

    def geometry(self, u: torch.Tensor, image_size: torch.Size | tuple[int, int]) -> torch.Tensor:
        """``[M, 2, 3]`` maps (output → input) for crop, flip and affine, from ``u[:, :9]``."""
        height, width = int(image_size[0]), int(image_size[1])
        out_h, out_w = self.size
        area = _between(u[:, 0], *self.crop_scale)
        log_ratio = _between(u[:, 1], math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        ratio = torch.exp(log_ratio)
        crop_w = torch.sqrt(area * ratio * height / width).clamp(max=1.0)
        crop_h = torch.sqrt(area / ratio * width / height).clamp(max=1.0)
        cx = (u[:, 2] - 0.5) * (1 - crop_w)
        cy = (u[:, 3] - 0.5) * (1 - crop_h)
        crop = box_theta(cx, cy, crop_w, crop_h)  # [M, 2, 3]
        flip = torch.where(u[:, 4] < self.flip_p, -1.0, 1.0).to(u.dtype)
        angle = torch.deg2rad(_between(u[:, 5], -self.degrees, self.degrees))
        shear = torch.tan(torch.deg2rad(_between(u[:, 8], -self.shear, self.shear)))
        tx = _between(u[:, 6], -self.translate, self.translate) * 2
        ty = _between(u[:, 7], -self.translate, self.translate) * 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        aspect = out_w / out_h  # rotate in pixel units, not in normalised units
        # affine in output space: rotation @ shear (x += shear * y), then translation
        a11, a12 = cos, (cos * shear - sin) / aspect
        a21, a22 = sin * aspect, sin * shear + cos
        affine = torch.stack([torch.stack([a11 * flip, a12 * flip, tx * flip], 1),
                              torch.stack([a21, a22, ty], 1)], 1)  # flip after the affine
        return crop[:, :, :2] @ affine + torch.cat([torch.zeros_like(crop[:, :, :2]), crop[:, :, 2:]], 2)

    def colour(self, views: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Colour jitter and grayscale from ``u [M, 6]`` (apply, b, c, s, h, grayscale).

        Brightness, contrast, saturation, hue and grayscale are all affine in the colour,
        so each view gets one ``C x C`` matrix and offset, applied in one pass and clamped
        once (torchvision clamps after each step; results differ only where it clips).
        """
        m, channels = views.shape[:2]
        applied = (u[:, 0] < self.jitter_p).to(views.dtype)
        brightness = 1 + applied * _between(u[:, 1], -self.brightness, self.brightness)
        contrast = 1 + applied * _between(u[:, 2], -self.contrast, self.contrast)
        channel_mean = views.mean((2, 3))  # [M, C]
        gray_mean = channel_mean @ views.new_tensor(GRAY_WEIGHTS) if channels == 3 else channel_mean[:, 0]
        eye = torch.eye(channels, dtype=views.dtype, device=views.device).expand(m, -1, -1)
        matrix = (brightness * contrast)[:, None, None] * eye  # [M, C, C]
        offset = ((1 - contrast) * brightness * gray_mean)[:, None].expand(m, channels)  # [M, C]
        if channels == 3:
            weights = views.new_tensor(GRAY_WEIGHTS)
            to_luma = torch.ones(3, 1, dtype=views.dtype, device=views.device) * weights  # [3, 3]
            saturation = 1 + applied * _between(u[:, 3], -self.saturation, self.saturation)
            saturate = saturation[:, None, None] * eye + (1 - saturation)[:, None, None] * to_luma
            hue = hue_matrix(applied * _between(u[:, 4], -self.hue, self.hue) * (2 * math.pi))
            gray_now = (u[:, 5] < self.grayscale_p).to(views.dtype)[:, None, None]
            grayscale = gray_now * to_luma + (1 - gray_now) * eye
            colour = grayscale @ hue @ saturate  # [M, 3, 3]
            matrix, offset = colour @ matrix, (colour @ offset[:, :, None])[:, :, 0]
        flat = torch.baddbmm(offset[:, :, None], matrix, views.reshape(m, channels, -1))
        return flat.view_as(views).clamp_(0, 1)
