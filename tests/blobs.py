"""A small generated split for head and evaluation tests: noisy copies of random class templates."""

from __future__ import annotations

import torch

from benchmark.data.split import Split


def blob_split(classes: int, per_class: int, shape: tuple[int, int, int], signal: float) -> Split:
    """``classes`` x ``per_class`` uint8 images: ``signal`` x a class template + the rest noise
    (seed 0), named ``blobs``/``test``."""
    g = torch.Generator().manual_seed(0)
    templates = torch.rand(classes, *shape, generator=g)
    labels = torch.arange(classes).repeat_interleave(per_class)
    noise = torch.rand(classes * per_class, *shape, generator=g)
    images = (signal * templates[labels] + (1 - signal) * noise) * 255
    return Split("blobs", "test", images.to(torch.uint8), labels,
                 tuple(f"c{i}" for i in range(classes)))
