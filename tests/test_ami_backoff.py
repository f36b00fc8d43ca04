"""Reconnect delays: exponential growth, jitter inside bounds, reset after a stable session."""

from __future__ import annotations

import random

import pytest

from acd.ami.backoff import Backoff


def test_grows_exponentially_to_the_cap_with_the_top_of_each_step() -> None:
    backoff = Backoff(0.5, 30.0, uniform=lambda lo, hi: hi)
    assert [backoff.next_delay() for _ in range(9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.failures == 9


def test_jitter_draws_from_the_upper_half_but_never_below_the_floor() -> None:
    backoff = Backoff(0.5, 30.0, uniform=lambda lo, hi: lo)
    # lower half of 0.5 would be 0.25: clamped to the operator's minimum
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 0.5, 1.0, 2.0]


def test_random_jitter_stays_within_bounds_and_spreads() -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(200):
        backoff = Backoff(0.1, 2.0, uniform=rng.uniform)
        delays.append([backoff.next_delay() for _ in range(10)])
    flat = [d for row in delays for d in row]
    assert min(flat) >= 0.1 and max(flat) <= 2.0
    assert len({round(row[5], 6) for row in delays}) > 100  # clients do not retry in lock-step


def test_reset_starts_again_from_the_minimum() -> None:
    backoff = Backoff(1.0, 8.0, uniform=lambda lo, hi: hi)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_many_failures_do_not_overflow() -> None:
    backoff = Backoff(0.5, 30.0, uniform=lambda lo, hi: hi)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_bad_bounds_are_refused(lo: float, hi: float) -> None:
    with pytest.raises(ValueError):
        Backoff(lo, hi)
