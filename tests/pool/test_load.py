"""Load trackers: Peak-EWMA's arithmetic, and pending requests."""

from __future__ import annotations

import math
from typing import Any

import pytest

from trio_pool import CallOutcome, PeakEwma, PendingRequests


def test_peak_ewma_maths() -> None:
    tracker: Any = PeakEwma(default_rtt=0.03, decay=10.0, failure_penalty=1.0).tracker(100.0)
    assert tracker.cost(100.0) == pytest.approx(0.03)
    # Idle, the estimate decays toward zero: 0.03 * e^-1 after one time constant.
    assert tracker.cost(110.0) == pytest.approx(0.03 * math.exp(-1))
    # A higher round trip is believed at once (the peak).
    tracker.start(100.5)
    assert tracker.cost(101.0) == pytest.approx(0.03 * math.exp(-0.1) * 2)
    tracker.end(100.5, 101.0, CallOutcome.OK)
    assert tracker.estimate == pytest.approx(0.5)
    # A lower one moves the estimate by 1 - e^(-elapsed/decay): here elapsed = 1 s.
    tracker.start(101.9)
    tracker.end(101.9, 102.0, CallOutcome.OK)
    w = math.exp(-0.1)
    assert tracker.estimate == pytest.approx(0.5 * w + 0.1 * (1 - w))
    assert tracker.estimate == pytest.approx(0.46193496721438384)
    # A failure counts as at least the penalty, however fast it was.
    tracker.start(102.0)
    tracker.end(102.0, 102.001, CallOutcome.FAILED)
    assert tracker.estimate == pytest.approx(1.0)
    # A cancellation may raise the estimate, never lower it.
    tracker.start(102.0)
    tracker.end(102.0, 102.01, CallOutcome.CANCELLED)
    assert tracker.estimate == pytest.approx(1.0)
    tracker.start(102.0)
    tracker.end(102.0, 105.0, CallOutcome.CANCELLED)
    assert tracker.estimate == pytest.approx(3.0)
    # A dropped call observes nothing.
    tracker.start(105.0)
    tracker.end(105.0, 105.0, CallOutcome.DROPPED)
    assert tracker.estimate == pytest.approx(3.0)
    assert tracker.in_flight == 0
    # Load is the estimate times (in flight + 1).
    tracker.start(105.0)
    tracker.start(105.0)
    assert tracker.cost(105.0) == pytest.approx(9.0)


def test_a_late_observation_moves_no_average() -> None:
    tracker: Any = PeakEwma(default_rtt=0.1, decay=10.0).tracker(0.0)
    tracker.start(0.0)
    tracker.end(0.0, 5.0, CallOutcome.OK)  # 5 s: the peak
    tracker.start(1.0)
    tracker.end(1.0, 2.0, CallOutcome.OK)  # reported after a later one: no average move
    assert tracker.estimate == pytest.approx(5.0)


def test_pending_requests_counts_calls_in_flight() -> None:
    tracker = PendingRequests().tracker(0.0)
    assert tracker.cost(0.0) == 1, "in flight, plus one"
    tracker.start(0.0)
    tracker.start(0.0)
    assert tracker.cost(1.0) == 3
    tracker.end(0.0, 1.0, CallOutcome.FAILED)
    assert tracker.cost(1.0) == 2


def test_load_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="decay must be a finite number > 0"):
        PeakEwma(decay=0)
    with pytest.raises(TypeError, match="default_rtt must be a number"):
        PeakEwma(default_rtt="fast")  # type: ignore[arg-type]
