"""Patch episodes: the views of a class are neighbouring patches of one image."""

from __future__ import annotations

import torch

from benchmark.data.split import Split
from benchmark.transforms.ops import box_theta, crop_resize
from benchmark.samplers.base import register_sampler
from benchmark.samplers.views import ViewSampler
from benchmark.errors import BenchmarkError


@register_sampler("patches", "N unlabelled images as classes, K+Q neighbouring patches each")
class PatchSampler(ViewSampler):
    """Each class is one image; its K+Q views are square patches whose centres lie within
    ``jitter`` of one random anchor of that image (neighbouring crops are positives),
    resized to ``size``.

    Args:
        split: images (labels are ignored).
        ways, shots, queries: N images per episode, K support and Q query patches each.
        device: where the split is kept and patches are cut.
        patch_size: patch side as a fraction of the image side, in ``(0, 1]``.
        jitter: largest offset of a patch centre from the anchor, fraction of the side.
        size: output side in pixels (default: the image's height).
    """

    offers = frozenset({"instances"})

    per_image = 2  # anchor x, y
    per_view = 2  # offset x, y

    def __init__(self, split: Split, ways: int, shots: int, queries: int,
                 device: str | torch.device = "cpu", patch_size: float = 0.5,
                 jitter: float = 0.125, size: int | None = None) -> None:
        super().__init__(split, ways, shots, queries, device)
        if not 0 < patch_size <= 1:
            raise BenchmarkError(f"patches sampler: patch_size must be in (0, 1], got {patch_size}")
        if jitter < 0:
            raise BenchmarkError(f"patches sampler: jitter must be >= 0, got {jitter}")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise BenchmarkError(f"patches sampler: size must be an integer >= 1, got {size!r}")
        self.patch_size, self.jitter = float(patch_size), float(jitter)
        self.size = size or split.image_shape[1]

    def make_views(self, images: torch.Tensor, image_u: torch.Tensor, view_u: torch.Tensor) -> torch.Tensor:
        room = (1 - self.patch_size) / 2  # centres in [-room, room] keep the patch inside
        anchor = (image_u * 2 - 1) * room
        centre = (anchor + (view_u * 2 - 1) * self.jitter).clamp(-room, room)
        side = torch.full_like(centre[:, 0], self.patch_size)
        theta = box_theta(centre[:, 0], centre[:, 1], side, side)
        return crop_resize(images, theta, (self.size, self.size)).clamp_(0, 1)
