"""Episodes: the typed ``Episode``, its stacked ``EpisodeBatch`` and the samplers that make them.

Importing this package registers every sampler in ``SAMPLERS``:
``labels`` (labelled classes), ``augment`` (augmented views of unlabelled images) and
``patches`` (neighbouring patches of unlabelled images).
"""

from benchmark.episodes.augment import AugmentSampler
from benchmark.episodes.augmentation import ViewAugment
from benchmark.episodes.batch import EpisodeBatch, stack_episodes
from benchmark.episodes.core import SAMPLERS, Sampler, build_sampler
from benchmark.episodes.episode import Episode, EpisodeKind, EpisodeSource
from benchmark.episodes.labels import LabelSampler
from benchmark.episodes.patches import PatchSampler

__all__ = [
    "SAMPLERS",
    "AugmentSampler",
    "Episode",
    "EpisodeBatch",
    "EpisodeKind",
    "EpisodeSource",
    "LabelSampler",
    "PatchSampler",
    "Sampler",
    "ViewAugment",
    "build_sampler",
    "stack_episodes",
]
