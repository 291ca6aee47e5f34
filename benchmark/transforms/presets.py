"""Named view-augmentation recipes (a registry), and the recipe each kind of dataset gets.

A preset builds a ``ViewAugment`` for an image size and channel count. Each dataset builder
says its ``kind`` (``benchmark.data.builder.DatasetBuilder.kind``); the augment sampler uses
the preset registered for that kind unless the spec names one (``sampler_options.preset``),
and the spec's ``sampler_options.augment`` knobs override single fields of it.
"""

from __future__ import annotations

from typing import Callable

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry
from benchmark.transforms.view_augment import ViewAugment

Preset = Callable[[tuple[int, int], int], ViewAugment]

AUGMENT_PRESETS: Registry[Preset] = Registry("augmentation preset")

#: dataset kind -> the preset its images get by default
_PRESET_OF_KIND: dict[str, str] = {}


def register_preset(name: str, description: str, kinds: tuple[str, ...] = ()) -> Callable[[Preset], Preset]:
    """Register a preset under ``name``; it becomes the default of the dataset ``kinds``."""
    def decorator(preset: Preset) -> Preset:
        AUGMENT_PRESETS.register(name, description)(preset)
        for kind in kinds:
            _PRESET_OF_KIND[kind] = name
        return preset
    return decorator


def preset_for_kind(kind: str) -> str:
    """The preset a dataset of ``kind`` gets unless the spec names one."""
    if kind not in _PRESET_OF_KIND:
        raise BenchmarkError(f"no augmentation preset for datasets of kind {kind!r} "
                             f"(kinds: {', '.join(sorted(_PRESET_OF_KIND))})")
    return _PRESET_OF_KIND[kind]


def build_preset(name: str, size: tuple[int, int], channels: int) -> ViewAugment:
    """The ``ViewAugment`` of preset ``name`` for ``channels x size`` images."""
    return AUGMENT_PRESETS.get(name)(size, channels)


@register_preset("simclr", "SimCLR's recipe (Chen et al. 2020): crop 8-100%, flip, colour jitter, "
                           "grey, blur", kinds=("natural",))
def simclr(size: tuple[int, int], channels: int) -> ViewAugment:
    """SimCLR's recipe (Chen et al. 2020, appendix A) scaled to the image size.

    Crop 8-100% area, ratio 3/4-4/3, flip 0.5; colour jitter with probability 0.8 and
    strengths 0.8, 0.8, 0.8, 0.2 (saturation and hue only for RGB); grayscale 0.2 (RGB);
    blur with probability 0.5, kernel 10% of the side (odd, at least 3), sigma 0.1-2.0.
    """
    rgb = channels == 3
    return ViewAugment(size=size, brightness=0.8, contrast=0.8, saturation=0.8 if rgb else 0.0,
                       hue=0.2 if rgb else 0.0, grayscale_p=0.2 if rgb else 0.0,
                       blur_kernel=max(3, int(0.1 * min(size)) // 2 * 2 + 1))


@register_preset("glyphs", "handwritten characters: crop 50-100%, small rotation, shear and "
                           "shift, random erasing; no flip, no colour, no blur", kinds=("glyphs",))
def glyphs(size: tuple[int, int], channels: int) -> ViewAugment:
    """Geometry that keeps a character the same character, plus erasing of strokes.

    No flip (a mirrored glyph is often another character) and no crop below half the area
    (an 8% crop of a 28x28 glyph is a blank or a single stroke); no colour or blur (the
    images are grey strokes on black). Crop 50-100% area, ratio 3/4-4/3; rotation within
    ±15°, shear within ±10°, shift within ±10% of the side; erase a rectangle of 2-20% of
    the view with probability 0.5. Found with the ablations in ``tasks/ablations/`` (see
    ``results/README.md``).
    """
    return ViewAugment(size=size, crop_scale=(0.5, 1.0), flip_p=0.0, degrees=15.0, translate=0.1,
                       shear=10.0, jitter_p=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
                       hue=0.0, grayscale_p=0.0, blur_p=0.0, erase_p=0.5, erase_scale=(0.02, 0.2))
