"""`LatencyWindow`: the recent percentile that sets the hedging delay."""

from __future__ import annotations

import math
import random

import pytest

from trio_pool._resilience._latency import MAX_SIZE, LatencyWindow


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


@pytest.mark.parametrize("percentile", [0.9999, 0.99999, 1 - 1e-7, 1 - 1e-17])
def test_a_percentile_near_1_keeps_a_bounded_window(percentile: float) -> None:
    window = LatencyWindow(percentile)
    assert window.size == MAX_SIZE == 10_000, "memory is bounded, whatever the percentile"
    assert window.needed == MAX_SIZE, "hedging starts after a full window at most"
    for n in range(MAX_SIZE - 1):
        window.observe(n / 1000)
    assert window.estimate is None
    window.observe(100.0)
    assert window.estimate == 100.0, "the highest of the window"
    for _ in range(MAX_SIZE // 10):
        window.observe(0.001)
    assert window.estimate == 100.0, "still in the window"


def test_a_high_percentile_is_selected_not_sorted() -> None:
    # The same answer as a sort of the ring, for a percentile low and high.
    rng = random.Random(3)
    for percentile in (0.5, 0.9, 0.99, 0.999):
        window = LatencyWindow(percentile)
        step = window.size // 10
        # As many as end on a fresh estimate: the first, then one every tenth.
        count = window.needed + step * ((window.size - window.needed) // step)
        values = [rng.expovariate(1.0) for _ in range(count)]
        for value in values:
            window.observe(value)
        ordered = sorted(values)
        rank = min(len(values) - 1, max(0, math.ceil(percentile * (len(values) + 1)) - 1))
        assert window.estimate == ordered[rank], percentile


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
