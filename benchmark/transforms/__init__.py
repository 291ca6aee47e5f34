"""Batched image transforms on the device: ``ViewAugment`` (SimCLR-style views, every view with
its own random parameters) and the operations it is made of (``ops``)."""

from benchmark.transforms.view_augment import NUM_UNIFORMS, ViewAugment

__all__ = ["NUM_UNIFORMS", "ViewAugment"]
