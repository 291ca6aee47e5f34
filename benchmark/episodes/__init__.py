"""Episodes: the typed ``Episode`` that flows from samplers to methods and evaluation, its
stacked ``EpisodeBatch``, and conversions to and from learn2learn tasks (``learn2learn``).
The samplers that make episodes are ``benchmark.samplers``."""

from benchmark.episodes.batch import EpisodeBatch
from benchmark.episodes.episode import Episode, EpisodeKind, EpisodeSampler

__all__ = ["Episode", "EpisodeBatch", "EpisodeKind", "EpisodeSampler"]
