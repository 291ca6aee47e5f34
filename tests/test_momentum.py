"""Momentum schedules and the momentum check (the EMA update itself: tests/test_modules.py)."""

from __future__ import annotations

import math

import pytest

from benchmark.errors import BenchmarkError
from benchmark.modules import MOMENTUM_SCHEDULES, check_momentum, cosine_momentum


def test_cosine_momentum_rises_from_base_to_one() -> None:
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 50, 100) == pytest.approx(0.995)
    for step in (10, 33, 77):
        expected = 1 - 0.01 * (math.cos(math.pi * step / 100) + 1) / 2
        assert cosine_momentum(0.99, step, 100) == pytest.approx(expected, abs=1e-15)
    values = [cosine_momentum(0.9, s, 40) for s in range(41)]
    assert values == sorted(values)


def test_constant_momentum_and_the_registry() -> None:
    assert set(MOMENTUM_SCHEDULES.names()) == {"constant", "cosine"}
    assert MOMENTUM_SCHEDULES.get("constant")(0.9, 7, 10) == 0.9


@pytest.mark.parametrize("m", [1.0, -0.01, 1.5, float("nan")])
def test_momentum_outside_zero_one_is_refused(m: float) -> None:
    with pytest.raises(BenchmarkError, match=r"momentum must be in \[0, 1\)"):
        check_momentum("moco", m, "constant")


def test_unknown_schedule_is_refused() -> None:
    check_momentum("moco", 0.0, "cosine")
    with pytest.raises(BenchmarkError, match="momentum schedule 'linear'"):
        check_momentum("moco", 0.9, "linear")
