"""Shared by the MoCo, BYOL and PsCo tests: augmentation episodes of embedded Omniglot."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from benchmark.data import load_split
from benchmark.episodes.episode import Episode
from benchmark.methods import build_method
from benchmark.samplers import build_sampler

WAYS = 8
#: small queues that hold whole steps (2 x WAYS keys a step, symmetric)
PARAMS: dict[str, dict[str, Any]] = {
    "moco": {"queue_size": 64},
    "byol": {},
    "psco": {"queue_size": 64, "num_shots": 2},
}


@lru_cache(maxsize=None)
def sampler(ways: int = WAYS, queries: int = 1):
    """SimCLR's episodes: ``ways`` images, the plain image and ``queries`` augmented views."""
    return build_sampler("augment", load_split("omniglot", "background", None), ways, 1, queries,
                         augment_support=False)


def episode(seed: int = 0, ways: int = WAYS, queries: int = 1) -> Episode:
    return sampler(ways, queries).sample(seed)


def method(name: str, seed: int = 0, **params: Any) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_method(name, "conv4", (1, 28, 28), **{**PARAMS[name], **params})
