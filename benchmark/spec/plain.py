"""Read-only plain data: ``FrozenDict``, ``freeze``/``thaw`` and the canonical hash of plain data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Iterator


class FrozenDict(Mapping):
    """A read-only, hashable, picklable mapping (spec params and sampler options)."""

    def __init__(self, data: Mapping[str, Any] = ()) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(canonical_hash(self._data))

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def freeze(value: Any) -> Any:
    """Plain data → read-only data (dict → FrozenDict, list → tuple), recursively."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of ``freeze``: plain dicts and lists, JSON-ready."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def canonical_hash(data: Any) -> str:
    """Stable sha256 (16 hex digits) of plain data: sorted keys, no whitespace."""
    text = json.dumps(thaw(data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
