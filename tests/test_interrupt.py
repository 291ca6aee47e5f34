"""Signals land where it is safe: inside ``safe_points()`` a SIGTERM or SIGINT is held until
the loop's next ``stop_point()`` (an exception raised between two bytecodes of a library's
queue or lock hand-off, TensorBoard's writer for one, hung a terminated run in CI), a second
signal of the kind is raised at once, and outside the loops a signal is raised at once."""

from __future__ import annotations

import signal

import pytest

from benchmark.interrupt import (Terminated, interrupts_at_safe_points, safe_points,
                                 stop_point)

KINDS = [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)]


def _send(signum: int) -> None:
    signal.raise_signal(signum)  # its Python handler runs before this returns


@pytest.mark.parametrize("signum, raised", KINDS)
def test_a_signal_inside_safe_points_is_raised_at_the_next_stop_point(signum: int,
                                                                      raised: type) -> None:
    reached = []
    with interrupts_at_safe_points(), pytest.raises(raised):
        with safe_points():
            for step in range(3):
                stop_point()
                _send(signum)
                reached.append(step)  # the rest of the step runs: the signal is held
    assert reached == [0]


@pytest.mark.parametrize("signum, raised", KINDS)
def test_a_second_signal_is_raised_at_once(signum: int, raised: type) -> None:
    reached = []
    with interrupts_at_safe_points(), pytest.raises(raised):
        with safe_points():
            _send(signum)
            reached.append("held")
            _send(signum)
            reached.append("not reached")
    assert reached == ["held"]


@pytest.mark.parametrize("signum, raised", KINDS)
def test_a_signal_held_at_the_end_of_the_loop_is_raised_when_it_ends(signum: int,
                                                                    raised: type) -> None:
    with interrupts_at_safe_points(), pytest.raises(raised):
        with safe_points():
            _send(signum)
        pytest.fail("the held signal was lost")


@pytest.mark.parametrize("signum, raised", KINDS)
def test_outside_safe_points_a_signal_is_raised_at_once(signum: int, raised: type) -> None:
    reached = []
    with interrupts_at_safe_points(), pytest.raises(raised):
        _send(signum)
        reached.append("not reached")
    assert reached == []


def test_the_previous_handlers_come_back_and_nothing_stays_held() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with interrupts_at_safe_points(), pytest.raises(Terminated):
        with safe_points():
            _send(signal.SIGTERM)
            raise Terminated()  # leaves the loop another way with the signal still held
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    stop_point()  # nothing held any more
