"""The attempts of one call: retries and hedges together, metrics, statistics, checkpoints."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest

from tests.support.resilience import open_queue
from trio_pool import Backoff, Hedging, QueueMetricFamilies, RetryBudget, RetryPolicy
from trio_pool.testing import EndpointKind

AT_ONCE = Backoff(initial=0, maximum=0)


async def test_retries_wrap_hedged_attempts(autojump_clock: trio.testing.MockClock) -> None:
    # Each attempt is a race of two copies; when both fail, the policy retries the race.
    policy = RetryPolicy(attempts=2, backoff=AT_ONCE)
    async with open_queue("abcd", retry=policy, hedging=Hedging(delay=0.1)) as setup:
        setup.endpoints.plan = lambda request, copy, address: (
            (0.3, ConnectionError(f"copy {copy}")) if copy < 2 else (0.05, None)
        )
        response = await setup.queue.call("x")
        sent = setup.endpoints.sent_to("x")
        assert len(sent) == 3
        assert len(set(sent)) == 3, "the retry avoids both endpoints the race used"
        assert response.address == sent[2]
        # The race ends at 0.4 (the hedge, sent at 0.1, fails 0.3 s later); the retry's
        # first copy answers within the hedging delay.
        assert trio.current_time() == pytest.approx(0.45)
        assert setup.metric("hedges_total") == 1
        assert setup.metric("retries_total") == 1


async def test_metrics_are_served_with_the_queues_families() -> None:
    registry = CollectorRegistry()
    families = QueueMetricFamilies.register(registry, prefix="lb", labelnames=["service"])
    metrics = families.labels(service="users")
    policy = RetryPolicy(budget=RetryBudget(min_per_second=0, percent=0))
    async with open_queue("a", retry=policy, metrics=metrics) as setup:
        setup.endpoints.handles["a"].call_error = ConnectionError("down")
        with pytest.raises(ConnectionError):
            await setup.queue.call("x")
    text = generate_latest(registry).decode()
    assert 'lb_queue_retries_total{service="users"} 0.0' in text
    assert 'lb_queue_retries_refused_total{service="users"} 1.0' in text
    assert 'lb_queue_hedges_total{service="users"} 0.0' in text
    assert 'lb_queue_hedges_refused_total{service="users"} 0.0' in text
    assert "# TYPE lb_queue_retries_refused_total counter" in text


async def test_statistics_show_the_balances_and_the_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue() as setup:
        stats = setup.queue.statistics()
        assert (stats.retry_budget, stats.hedge_budget, stats.hedge_delay) == (None, None, None)
    policy = RetryPolicy(budget=RetryBudget(ttl=10, min_per_second=1, percent=0.5))
    hedging = Hedging(delay=0.2, budget=RetryBudget(ttl=10, min_per_second=0, percent=0.1))
    async with open_queue(retry=policy, hedging=hedging) as setup:
        stats = setup.queue.statistics()
        assert (stats.retry_budget, stats.hedge_budget, stats.hedge_delay) == (10, 0, 0.2)
        for n in range(10):
            await setup.queue.call(n)
        stats = setup.queue.statistics()
        assert stats.retry_budget == pytest.approx(15)
        assert stats.hedge_budget == pytest.approx(1)


@pytest.mark.parametrize("kind", [EndpointKind.NOWAIT, EndpointKind.INSTANT])
async def test_a_call_yields_once_even_when_everything_is_instant(kind: EndpointKind) -> None:
    async with open_queue(kind=kind, retry=RetryPolicy()) as setup:
        other_ran = False

        async def other() -> None:
            nonlocal other_ran
            other_ran = True

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            await setup.queue.call("x")
            assert other_ran, "the call let another task run"


async def test_a_call_cancelled_before_it_starts_sends_nothing() -> None:
    async with open_queue(retry=RetryPolicy(), hedging=Hedging(delay=0.01)) as setup:
        with trio.CancelScope() as scope:
            scope.cancel()
            await setup.queue.call("x")
        assert setup.endpoints.calls() == 0


async def test_a_caller_cancelled_while_queued_leaves_nothing_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(retry_on=lambda outcome: True)
    async with open_queue("a", retry=policy, hedging=Hedging(delay=0.1)) as setup:
        handle = setup.endpoints.handles["a"]
        handle.allow(0)
        with trio.move_on_after(1.0):
            await setup.queue.call("x")
        handle.allow(None)
        await trio.testing.wait_all_tasks_blocked()
        assert setup.endpoints.calls() == 0
        assert setup.queue.statistics().pending == 0


async def test_without_retry_or_hedging_calls_take_the_plain_path(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("ab") as setup:
        setup.endpoints.handles["a"].call_error = setup.endpoints.handles["b"].call_error = (
            ConnectionError("down")
        )
        with pytest.raises(ConnectionError):
            await setup.queue.call("x")
        assert setup.endpoints.calls() == 1
        assert setup.metric("retries_total") == 0
