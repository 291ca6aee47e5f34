"""The Python API's arguments checked at its boundary: each wrong type is one
``BenchmarkError`` line naming the argument, before any work (a float count, a bool, a list
where a path is expected, an object where an encoder is expected)."""

from __future__ import annotations

from os import PathLike
from typing import Any, Mapping

from benchmark.errors import BenchmarkError


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def check_counts(**counts: Any) -> None:
    """Every count an integer (``True`` and ``5.0`` are not)."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise BenchmarkError(f"{name} must be an integer, got {_kind(value)}")


def check_strings(**values: Any) -> None:
    """Every value a string or None (an optional name: a split, a head, a device, ...)."""
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise BenchmarkError(f"{name} must be a string, got {_kind(value)}")


def check_flags(**flags: Any) -> None:
    """Every flag ``True`` or ``False`` (``1`` and ``"yes"`` are not)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise BenchmarkError(f"{name} must be True or False, got {_kind(value)}")


def check_path(name: str, value: Any, optional: bool = False) -> None:
    """``value`` a path (a string or ``os.PathLike``), or None when ``optional``."""
    if value is None and optional:
        return
    if not isinstance(value, (str, PathLike)):
        raise BenchmarkError(f"{name} must be a path (a string or pathlib.Path), got "
                             f"{_kind(value)}")


def check_spec(spec: Any) -> None:
    """A spec: a path to a spec or ablation file, or a spec's plain data (a mapping)."""
    if not isinstance(spec, (str, PathLike, Mapping)):
        raise BenchmarkError(f"spec must be a path to a spec file or a mapping of its data, "
                             f"got {_kind(spec)}")


def check_names(name: str, value: Any) -> None:
    """A name, or a sequence of names (not a bare non-string)."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise BenchmarkError(f"{name} must be a name or a list of names, got {_kind(value)}")


def check_encoder(model: Any) -> None:
    """An encoder: a backbone name, or a callable (a module with ``embed``, or any function
    of a batch of images)."""
    if not (isinstance(model, str) or callable(model) or hasattr(model, "embed")):
        raise BenchmarkError(f"model must be a callable from images [B, C, H, W] to features "
                             f"[B, D], a module with .embed, or a backbone name; got "
                             f"{_kind(model)}")
