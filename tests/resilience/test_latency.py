"""`LatencyWindow`: the recent percentile that sets the hedging delay."""

from __future__ import annotations

import random

import pytest

from trio_pool._resilience._latency import LatencyWindow


@pytest.mark.parametrize(("percentile", "needed"), [(0.5, 20), (0.9, 100), (0.95, 200)])
def test_enough_means_ten_observations_above_the_percentile(percentile: float, needed: int) -> None:
    window = LatencyWindow(percentile)
    assert window.needed == needed
    for n in range(needed - 1):
        window.observe(n)
        assert window.estimate is None
    window.observe(needed - 1)
    assert window.estimate is not None


def test_a_high_percentile_keeps_more_observations() -> None:
    assert LatencyWindow(0.95).size == 1000
    assert LatencyWindow(0.999).size == 10_000


def test_the_estimate_ranks_p_times_n_plus_one() -> None:
    # The k-th of n observations lies below k / (n + 1) of the distribution on average:
    # at rank p * (n + 1), a new one exceeds the estimate with probability 1 - p.
    window = LatencyWindow(0.95)
    values = list(range(1, 201))
    random.Random(1).shuffle(values)
    for value in values:
        window.observe(value / 1000)
    assert window.estimate == 0.191


def test_old_observations_leave_the_window() -> None:
    window = LatencyWindow(0.5)
    for _ in range(1000):
        window.observe(1.0)
    assert window.estimate == 1.0
    for _ in range(600):
        window.observe(0.01)
    assert window.estimate == 0.01, "the ring holds the last 1,000: most are fast now"


def test_the_estimate_is_refreshed_every_tenth_of_the_window() -> None:
    window = LatencyWindow(0.5)
    for _ in range(1000):
        window.observe(1.0)
    for _ in range(99):
        window.observe(0.0)
    assert window.estimate == 1.0
    for _ in range(500):
        window.observe(0.0)
    assert window.estimate == 0.0
