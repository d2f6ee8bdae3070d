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

from tests.support.configs import hedgings, outlier_detections, retry_policies, slow_starts
from trio_pool import (
    Hedging,
    LeastLoadedPool,
    OutlierDetection,
    P2CPool,
    PendingRequests,
    PoolMetricFamilies,
    QueueMetricFamilies,
    RandomPool,
    RetryPolicy,
    RoundRobinPool,
    SlowStart,
)
from trio_pool.testing import Scenario, ScenarioReport, run_scenario, scenarios

POOLS: dict[str, Callable[..., Any]] = {
    "p2c_peak_ewma": P2CPool,
    "p2c_pending": lambda new, **kw: P2CPool(new, load=PendingRequests(), **kw),
    "least_loaded": LeastLoadedPool,
    "least_loaded_pending": lambda new, **kw: LeastLoadedPool(new, load=PendingRequests(), **kw),
    "round_robin": RoundRobinPool,
    "random": RandomPool,
}


# No scenario lasts longer than this in virtual time, sleeps and backoffs included.
DEADLINE = 1e6


@pytest.mark.parametrize("name", POOLS)
@given(
    scenario=scenarios(),
    failfast_timeout=st.sampled_from([0.5, 3.0]),
    outlier=st.none() | outlier_detections(),
    slow_start=st.none() | slow_starts(),
    retry=st.none() | retry_policies(),
    hedging=st.none() | hedgings(),
    wait_for_ready=st.booleans(),
)
def test_chaos(
    name: str,
    scenario: Scenario,
    failfast_timeout: float,
    outlier: OutlierDetection | None,
    slow_start: SlowStart | None,
    retry: RetryPolicy | None,
    hedging: Hedging | None,
    wait_for_ready: bool,
) -> None:
    # Every option the pools and the queue accept, across its whole range, edges
    # included: an accepted configuration must never break a pool or the queue.
    registry = CollectorRegistry()
    queue_metrics = QueueMetricFamilies.register(registry).labels()
    pool_metrics = PoolMetricFamilies.register(registry).labels()

    async def run() -> ScenarioReport:
        # Virtual time: a scenario that hangs (a call or a close waiting forever) jumps
        # to this deadline and fails, rather than hanging the run.
        with trio.fail_after(DEADLINE):
            return await run_scenario(
                lambda new: POOLS[name](
                    new, metrics=pool_metrics, outlier=outlier, slow_start=slow_start
                ),
                scenario,
                failfast_timeout=failfast_timeout,
                metrics=queue_metrics,
                retry=retry,
                hedging=hedging,
                wait_for_ready=wait_for_ready,
            )

    report = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))

    def value(metric: str, **labels: str) -> float:
        found = registry.get_sample_value(metric, labels)
        return 0.0 if found is None else found

    outcomes = report.outcomes
    assert value("trio_pool_queue_length") == 0
    assert value("trio_pool_queue_latency_seconds_count") == report.dispatched
    # Each call is counted once, and each of its retries and hedges once more.
    attempts = (
        len(outcomes)
        + value("trio_pool_queue_retries_total")
        + value("trio_pool_queue_hedges_total")
    )
    refused_or_accepted = attempts - value("trio_pool_queue_requests_total")
    assert refused_or_accepted >= 0, "no attempt is counted twice"
    assert value("trio_pool_queue_requests_total") >= report.dispatched
    assert value("trio_pool_endpoints") == 0, "the pool is empty once closed"
    changes = sum(value("trio_pool_updates_total", op=op) for op in ("reset", "add", "remove"))
    assert changes == report.membership_changes, "update metrics count real changes only"
    shut = value("trio_pool_queue_gate_shut_total")
    opened = value("trio_pool_queue_gate_open_total")
    assert opened <= shut <= opened + 1, "the gate alternates, starting open"
