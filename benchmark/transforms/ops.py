"""Batched image operations on the device, each image with its own parameters: affine
warps (crop, flip, rotation, shear as one ``grid_sample``), Gaussian blur (one grouped
convolution per pass) and hue rotation matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def affine_grid(theta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.affine_grid(theta, [M, C, h, w], align_corners=False)`` by broadcasting
    (a few times faster on CPU than the batched matmul). Returns ``[M, h, w, 2]``."""
    h, w = size
    xs = ((torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1).view(1, 1, w)
    ys = ((torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1).view(1, h, 1)
    t = theta[:, :, :, None, None]  # [M, 2, 3, 1, 1]
    return torch.stack([t[:, 0, 0] * xs + t[:, 0, 1] * ys + t[:, 0, 2],
                        t[:, 1, 0] * xs + t[:, 1, 1] * ys + t[:, 1, 2]], -1)


def crop_resize(images: torch.Tensor, theta: torch.Tensor, size: tuple[int, int],
                padding_mode: str = "zeros") -> torch.Tensor:
    """Warp each image by its own affine map and resample to ``size``.

    Args:
        images: ``[M, C, H, W]``.
        theta: ``[M, 2, 3]`` maps output coordinates to input coordinates, both normalised
            to ``[-1, 1]`` (``F.affine_grid`` convention, ``align_corners=False``).
        size: output ``(h, w)``.

    Returns:
        ``[M, C, h, w]``, bilinear.
    """
    return F.grid_sample(images, affine_grid(theta, size), mode="bilinear",
                         padding_mode=padding_mode, align_corners=False)


def box_theta(cx: torch.Tensor, cy: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``[M, 2, 3]`` affine maps that crop boxes (centre ``cx, cy``, size ``w, h``, all ``[M]``,
    normalised: the full image is centre 0, size 1)."""
    zero = torch.zeros_like(cx)
    return torch.stack([torch.stack([w, zero, cx * 2], 1), torch.stack([zero, h, cy * 2], 1)], 1)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Blur each image with its own Gaussian (separable, reflect padding).

    Args:
        images: ``[M, C, H, W]``.
        sigma: ``[M]`` (pixels), > 0.
        kernel_size: odd kernel side.
    """
    m, c, h, w = images.shape
    radius = kernel_size // 2
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)
    kernel = kernel.repeat_interleave(c, 0)  # [M*C, k]
    flat = images.reshape(1, m * c, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(m * c, 1, 1, kernel_size), groups=m * c)
    flat = F.conv2d(flat, kernel.view(m * c, 1, kernel_size, 1), groups=m * c)
    return flat.view(m, c, h, w)


_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def hue_matrix(angle: torch.Tensor) -> torch.Tensor:
    """``[M, 3, 3]`` RGB matrices rotating the chroma by ``angle [M]`` radians in YIQ space."""
    to_yiq = angle.new_tensor(_RGB_TO_YIQ)
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rotation = torch.stack([torch.stack([one, zero, zero], 1),
                            torch.stack([zero, cos, -sin], 1),
                            torch.stack([zero, sin, cos], 1)], 1)
    return from_yiq @ rotation @ to_yiq
