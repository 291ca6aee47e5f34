"""Episode samplers (a registry): a seed in, an ``Episode`` out.

Importing this package registers every sampler in ``SAMPLERS``: ``labels`` (labelled classes),
``augment`` (augmented views of unlabelled images), ``patches`` (neighbouring patches of
unlabelled images) and ``temporal`` (nearby frames of one sequence). A new sampler is one ``Sampler`` subclass decorated with
``@register_sampler(name)``.
"""

from benchmark.samplers.augment import AugmentSampler
from benchmark.samplers.base import (SAMPLERS, Sampler, build_sampler, register_sampler,
                                     supervision_of)
from benchmark.samplers.labels import LabelSampler
from benchmark.samplers.patches import PatchSampler
from benchmark.samplers.temporal import TemporalSampler

__all__ = ["SAMPLERS", "AugmentSampler", "LabelSampler", "PatchSampler", "Sampler", "TemporalSampler",
           "build_sampler", "register_sampler", "supervision_of"]
