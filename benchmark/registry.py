"""One small registry type behind datasets, backbones, methods and heads."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from benchmark.errors import BenchmarkError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its name and one-line description."""

    name: str
    obj: T
    description: str


class Registry(Generic[T]):
    """Name → object table filled by a decorator.

    >>> BACKBONES = Registry("backbone")
    >>> @BACKBONES.register("conv4", "Conv-4 of Snell et al.")
    ... def conv4(**kw): ...
    >>> BACKBONES.build("conv4", in_channels=1)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str | None = None) -> Callable[[T], T]:
        """Decorator that registers a class or function under ``name``.

        The description defaults to the first line of the object's docstring.
        """

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = description or (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            self._entries[name] = Entry(name, obj, doc)
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The object registered as ``name``; a BenchmarkError listing the known names otherwise."""
        try:
            return self._entries[name].obj
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise BenchmarkError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def build(self, name: str, **kwargs: Any) -> Any:
        """Call the object registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style pattern, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def entries(self) -> list[Entry[T]]:
        """All entries, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
