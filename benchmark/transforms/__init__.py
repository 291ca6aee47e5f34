"""Batched image transforms on the device: ``ViewAugment`` (SimCLR-style views, every view with
its own random parameters) and the operations it is made of (``ops``)."""

from benchmark.transforms.presets import AUGMENT_PRESETS, build_preset, preset_for_kind
from benchmark.transforms.view_augment import NUM_UNIFORMS, ViewAugment

__all__ = ["AUGMENT_PRESETS", "NUM_UNIFORMS", "ViewAugment", "build_preset", "preset_for_kind"]
