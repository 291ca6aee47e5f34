"""Read-only plain data: ``ReadOnlyDict``, ``read_only``/``writable`` and the canonical hash of plain data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Iterator


class ReadOnlyDict(Mapping):
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
        return f"ReadOnlyDict({self._data!r})"


def read_only(value: Any) -> Any:
    """Plain data → read-only data (dict → ReadOnlyDict, list → tuple), recursively."""
    if isinstance(value, Mapping):
        return ReadOnlyDict({k: read_only(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(read_only(v) for v in value)
    return value


def writable(value: Any) -> Any:
    """The inverse of ``read_only``: plain dicts and lists, JSON-ready."""
    if isinstance(value, Mapping):
        return {k: writable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [writable(v) for v in value]
    return value


def canonical_hash(data: Any) -> str:
    """Stable sha256 (16 hex digits) of plain data: sorted keys, no whitespace."""
    text = json.dumps(writable(data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
