"""What is registered: the registries behind ``python -m benchmark list``."""

from __future__ import annotations

import importlib

from benchmark.registry import Registry

#: ``list`` argument → (module, registry attribute). Importing the module fills the registry.
REGISTRIES: dict[str, tuple[str, str]] = {
    "methods": ("benchmark.methods", "METHODS"),
    "backbones": ("benchmark.backbones", "BACKBONES"),
    "datasets": ("benchmark.data", "DATASETS"),
    "heads": ("benchmark.heads", "HEADS"),
    "samplers": ("benchmark.samplers", "SAMPLERS"),
    "presets": ("benchmark.transforms.presets", "AUGMENT_PRESETS"),
}


def registry(what: str) -> Registry:
    """The registry listed as ``what`` (one of ``REGISTRIES``)."""
    module, attribute = REGISTRIES[what]
    return getattr(importlib.import_module(module), attribute)


def registry_entries(what: str) -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every entry of a registry, sorted by name."""
    return [(entry.name, entry.description) for entry in registry(what).entries()]
