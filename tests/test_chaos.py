"""Chaos: generated scenarios against open_pool_queue with each shipped pool.

Every call gets exactly one outcome, nothing leaks, no task outlives the block (all
asserted by `run_scenario`), and the metrics agree with what happened. The number of
examples follows the Hypothesis profile: 500 in CI, 10,000 with ``nox -s chaos``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from trio_pool import (
    LeastLoadedPool,
    P2CPool,
    PendingRequests,
    PoolMetricFamilies,
    QueueMetricFamilies,
    RandomPool,
    RoundRobinPool,
)
from trio_pool.testing import Scenario, run_scenario, scenarios

POOLS: dict[str, Callable[..., Any]] = {
    "p2c_peak_ewma": P2CPool,
    "p2c_pending": lambda new, **kw: P2CPool(new, load=PendingRequests(), **kw),
    "least_loaded": LeastLoadedPool,
    "least_loaded_pending": lambda new, **kw: LeastLoadedPool(new, load=PendingRequests(), **kw),
    "round_robin": RoundRobinPool,
    "random": RandomPool,
}


@pytest.mark.parametrize("name", POOLS)
@given(scenario=scenarios(), failfast_timeout=st.sampled_from([0.5, 3.0]))
def test_chaos(name: str, scenario: Scenario, failfast_timeout: float) -> None:
    registry = CollectorRegistry()
    queue_metrics = QueueMetricFamilies.register(registry).labels()
    pool_metrics = PoolMetricFamilies.register(registry).labels()
    report = trio.run(
        lambda: run_scenario(
            lambda new: POOLS[name](new, metrics=pool_metrics),
            scenario,
            failfast_timeout=failfast_timeout,
            metrics=queue_metrics,
        ),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )

    def value(metric: str, **labels: str) -> float:
        found = registry.get_sample_value(metric, labels)
        return 0.0 if found is None else found

    outcomes = report.outcomes
    assert value("trio_pool_queue_length") == 0
    assert value("trio_pool_queue_latency_seconds_count") == report.dispatched
    # Each call is counted once, and each of its retries once more.
    attempts = len(outcomes) + value("trio_pool_queue_retries_total")
    refused_or_accepted = attempts - value("trio_pool_queue_requests_total")
    assert refused_or_accepted >= 0, "no attempt is counted twice"
    assert value("trio_pool_queue_requests_total") >= report.dispatched
    assert value("trio_pool_endpoints") == 0, "the pool is empty once closed"
    changes = sum(value("trio_pool_updates_total", op=op) for op in ("reset", "add", "remove"))
    assert changes == report.membership_changes, "update metrics count real changes only"
    shut = value("trio_pool_queue_gate_shut_total")
    opened = value("trio_pool_queue_gate_open_total")
    assert opened <= shut <= opened + 1, "the gate alternates, starting open"
