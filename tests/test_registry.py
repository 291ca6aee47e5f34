"""The Registry type behind every name → object table."""

import pytest

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


def make_registry() -> Registry:
    things: Registry = Registry("thing")

    @things.register("alpha", "the first thing")
    def alpha(scale: int = 1) -> int:
        return 10 * scale

    @things.register("beta")
    def beta() -> int:
        """Second thing.

        More text that is not the description.
        """
        return 2

    return things


def test_build_and_describe() -> None:
    things = make_registry()
    assert things.build("alpha", scale=3) == 30
    assert [(e.name, e.description) for e in things.entries()] == [
        ("alpha", "the first thing"),
        ("beta", "Second thing."),
    ]
    assert "alpha" in things and len(things) == 2
    assert things.names("a*") == ["alpha"]


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(BenchmarkError, match=r"unknown thing 'gamma' \(known: alpha, beta\)"):
        make_registry().get("gamma")


def test_duplicate_registration_refused() -> None:
    things = make_registry()
    with pytest.raises(ValueError, match="registered twice"):
        things.register("alpha")(lambda: 0)
