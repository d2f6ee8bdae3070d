"""The shipped pools: membership diffs, readiness, backoff, accounting, choice."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from trio_pool import (
    Backoff,
    CallOutcome,
    P2CPool,
    PeakEwma,
    PendingRequests,
    PoolMetricFamilies,
    RandomPool,
    Remove,
    Reset,
    RoundRobinPool,
    Update,
    open_pool_queue,
)
from trio_pool._p2c import distinct_pair
from trio_pool._ready_cache import ReadyCachePool

from ..support.fake_endpoints import Factory, FakeEndpoint

PoolFactory = Callable[..., ReadyCachePool[Any, Any, Any, Any]]
ALL_POOLS: list[PoolFactory] = [P2CPool, RoundRobinPool, RandomPool]
pools = pytest.mark.parametrize("make_pool", ALL_POOLS, ids=lambda p: p.__name__)

NO_JITTER = Backoff(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.0)


@given(st.integers(2, 10_000), st.randoms(use_true_random=False))
def test_distinct_pair_gives_two_distinct_indexes(n: int, rng: random.Random) -> None:
    first, second = distinct_pair(rng, n)
    assert first != second
    assert 0 <= first < n
    assert 0 <= second < n


def test_distinct_pair_covers_every_ordered_pair() -> None:
    rng = random.Random(7)
    seen = {distinct_pair(rng, 4) for _ in range(2000)}
    assert seen == {(a, b) for a in range(4) for b in range(4) if a != b}


@pools
async def test_update_pool_counts_only_real_changes(make_pool: PoolFactory) -> None:
    # The cases of the seed's P2C `update_pool` test.
    registry = CollectorRegistry()
    metrics = PoolMetricFamilies.register(registry, labelnames=["svc"]).labels(svc="a")
    seen: set[tuple[Any, Any]] = set()
    factory = Factory()

    def new_endpoint(address: Any, target: Any) -> Any:
        assert (address, target) not in seen, "each (address, target) is built once"
        seen.add((address, target))
        return factory(address, target)

    pool = make_pool(new_endpoint, metrics=metrics)
    a0, a1 = ("192.168.10.10", 80), ("192.168.10.11", 80)

    def check(expected: dict[Any, Any]) -> None:
        assert pool.members() == expected
        assert registry.get_sample_value("trio_pool_endpoints", {"svc": "a"}) == len(expected)
        assert pool.statistics().endpoints == len(expected)

    pool.reset_pool([(a0, 0)])
    check({a0: 0})
    pool.add_endpoint(a0, 1)
    check({a0: 1})
    pool.reset_pool([(a0, 1)])
    check({a0: 1})
    pool.add_endpoint(a1, 1)
    check({a0: 1, a1: 1})
    pool.add_endpoint(a1, 1)
    check({a0: 1, a1: 1})
    pool.remove_endpoint(a0)
    check({a1: 1})
    pool.remove_endpoint(a0)
    check({a1: 1})
    pool.reset_pool([(a0, 2), (a1, 2)])
    check({a0: 2, a1: 2})
    pool.reset_pool([(a0, 2)])
    check({a0: 2})
    pool.reset_pool([(a0, 3)])
    check({a0: 3})
    pool.reset_pool([])
    check({})
    pool.reset_pool([])
    check({})

    def updates(op: str) -> float | None:
        return registry.get_sample_value("trio_pool_updates_total", {"svc": "a", "op": op})

    assert (updates("reset"), updates("add"), updates("remove")) == (5, 2, 1)
    assert pool.statistics().updates == 8
    await pool.aclose()
    assert all(e.closed for e in factory.made)


@pools
async def test_reset_keeps_unchanged_endpoints_and_their_load(make_pool: PoolFactory) -> None:
    factory = Factory()
    pool = make_pool(factory)
    pool.reset_pool([("a", 1), ("b", 1), ("c", 1)])
    a, b, c = factory.made
    slot_a = pool._slots["a"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        pool.reset_pool([("a", 1), ("b", 2)])
        await trio.testing.wait_all_tasks_blocked()
        assert factory.made[:3] == [a, b, c]
        assert not a.closed, "unchanged: same endpoint, no reconnect"
        assert pool._slots["a"] is slot_a, "unchanged: load estimate kept"
        assert b.closed, "evicted endpoints are closed by the drive task"
        assert c.closed, "evicted endpoints are closed by the drive task"
        assert factory.live("b").target == 2
        nursery.cancel_scope.cancel()
    await pool.aclose()


@pools
async def test_malformed_resets_leave_the_pool_intact(make_pool: PoolFactory) -> None:
    factory = Factory()
    pool = make_pool(factory)
    pool.reset_pool([("a", 1)])
    with pytest.raises(ValueError, match="duplicate address"):
        pool.reset_pool([("b", 1), ("b", 2)])
    with pytest.raises(TypeError, match="unhashable"):
        pool.reset_pool([(["b"], 1)])
    with pytest.raises(TypeError, match="unhashable"):
        pool.add_endpoint(["b"], 1)
    assert [e.address for e in factory.made] == ["a"]
    assert pool.statistics().endpoints == 1
    await pool.aclose()


@pools
async def test_endpoints_ready_at_once_need_no_task(make_pool: PoolFactory) -> None:
    factory = Factory()
    pool = make_pool(factory)
    pool.reset_pool([(i, None) for i in range(100)])
    stats = pool.statistics()
    assert (stats.ready, stats.pending) == (100, 0)
    assert pool._deferred == [], "no readiness task was needed"
    await pool.aclose()


async def test_an_endpoint_without_ready_nowait_is_pending_until_ready() -> None:
    factory = Factory({"nowait": False, "is_ready": False})
    pool = P2CPool(factory)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        assert (pool.statistics().ready, pool.statistics().pending) == (0, 1)
        endpoint = factory.made[0]
        endpoint.set_ready(True)
        await trio.testing.wait_all_tasks_blocked()
        assert (pool.statistics().ready, pool.statistics().pending) == (1, 0)

        await pool.ready()
        assert await pool.call("x") == ("a", "x")
        # Readiness is per request: without ready_nowait, it is awaited again.
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint.ready_waits == 2
        assert pool.statistics().ready == 1
        nursery.cancel_scope.cancel()
    await pool.aclose()


async def test_a_ready_endpoint_that_becomes_busy_goes_pending() -> None:
    factory = Factory()
    pool = P2CPool(factory)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        pool.add_endpoint("a", None)
        endpoint = factory.made[0]
        endpoint.set_ready(False)
        with pytest.raises(trio.WouldBlock):
            pool.ready_nowait()
        assert (pool.statistics().ready, pool.statistics().pending) == (0, 1)
        endpoint.set_ready(True)
        await pool.ready()
        assert pool.statistics().ready == 1
        nursery.cancel_scope.cancel()


async def test_evicting_a_pending_endpoint_cancels_its_readiness_task() -> None:
    factory = Factory({"is_ready": False})
    pool = P2CPool(factory)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        endpoint = factory.made[0]
        assert endpoint.ready_waits == 1
        pool.remove_endpoint("a")
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint.ready_cancelled == 1
        assert endpoint.closed
        assert pool.statistics() == pool.statistics().__class__(0, 0, 0, 0, 0, 2)
        nursery.cancel_scope.cancel()


async def test_failed_endpoints_back_off_and_are_recreated(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry = CollectorRegistry()
    metrics = PoolMetricFamilies.register(registry).labels()
    factory = Factory({"nowait": False})
    pool = P2CPool(factory, backoff=NO_JITTER, metrics=metrics)
    failing = 3

    original = factory.__call__

    def flaky(address: Any, target: Any) -> Any:
        nonlocal failing
        endpoint = original(address, target)
        if failing:
            failing -= 1
            endpoint.fail_ready(OSError("refused"))
        return endpoint

    pool._new_endpoint = flaky
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        start = trio.current_time()
        pool.add_endpoint("a", None)
        await pool.ready()
        # Failures at 0, 1 and 3 s; delays 1, 2, 4 s: ready on the fourth try, at 7 s.
        assert [t - start for t in factory.made_at] == [0, 1, 3, 7]
        assert trio.current_time() - start == 7
        assert [e.closed for e in factory.made] == [True, True, True, False]
        assert registry.get_sample_value("trio_pool_endpoint_failures_total") == 3
        nursery.cancel_scope.cancel()
    await pool.aclose()


async def test_a_failing_factory_is_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory(fail_next=2)
    pool = RoundRobinPool(factory, backoff=NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        start = trio.current_time()
        pool.add_endpoint("a", None)
        assert pool.statistics().backing_off == 1
        await pool.ready()
        assert trio.current_time() - start == 3
        nursery.cancel_scope.cancel()
    await pool.aclose()


def test_backoff_delays_are_capped_and_jittered() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, multiplier=2.0, jitter=0.5)
    rng = random.Random(1)
    for failures, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 4.0), (1000, 4.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap / 4, "jitter spreads retries"
    with pytest.raises(ValueError, match="jitter must be between 0 and 1"):
        Backoff(jitter=2)


@pools
async def test_evicted_endpoints_close_after_their_calls_end(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"latency": 5.0})
    pool = make_pool(factory)
    pool.add_endpoint("a", None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        await pool.ready()
        call = pool.call("x")
        nursery.start_soon(_await, call)
        await trio.sleep(1)
        pool.remove_endpoint("a")
        await trio.sleep(1)
        assert not factory.made[0].closed, "a call still runs on it"
        await trio.sleep(4)
        assert factory.made[0].closed
        assert pool.statistics().in_flight == 0
        nursery.cancel_scope.cancel()


async def _await(awaitable: Any) -> None:
    await awaitable


@pools
async def test_accounting_ends_once_however_calls_end(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"latency": 1.0})
    pool = make_pool(factory)
    pool.reset_pool([("a", None), ("b", None)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        # Cancelled mid-call.
        await pool.ready()
        with trio.move_on_after(0.5):
            await pool.call("cancelled")
        # Never awaited.
        await pool.ready()
        pool.call("dropped").close()
        # Failed.
        factory.made[0].fail_calls = factory.made[1].fail_calls = True
        await pool.ready()
        with pytest.raises(ConnectionError):
            await pool.call("failed")
        assert pool.statistics().in_flight == 0
        assert all(slot.load.in_flight == 0 for slot in pool._slots.values())
        nursery.cancel_scope.cancel()
    await pool.aclose()


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


def test_load_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="decay must be a finite number > 0"):
        PeakEwma(decay=0)
    with pytest.raises(TypeError, match="default_rtt must be a number"):
        PeakEwma(default_rtt="fast")  # type: ignore[arg-type]


async def test_p2c_prefers_the_less_loaded_endpoint() -> None:
    factory = Factory()
    pool = P2CPool(factory, load=PendingRequests(), rng=random.Random(3))
    pool.reset_pool([("busy", None), ("idle", None)])
    await pool.ready()
    busy = pool.call("hold")  # whichever was picked now has one in flight
    first = factory.made[0] if pool._slots["busy"].load.in_flight else factory.made[1]
    for _ in range(20):
        pool.ready_nowait()
        assert pool._selected is not None
        assert pool._selected.address != first.address
    busy.close()
    await pool.aclose()


async def test_round_robin_takes_turns() -> None:
    factory = Factory()
    pool = RoundRobinPool(factory)
    pool.reset_pool([(i, None) for i in range(3)])
    picks = []
    for i in range(9):
        pool.ready_nowait()
        picks.append((await pool.call(i))[0])
    assert sorted(picks) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert picks[:3] == picks[3:6] == picks[6:]
    await pool.aclose()


async def test_p2c_behind_the_queue_never_calls_a_removed_endpoint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory({"latency": 0.01})
    pool = P2CPool(factory, rng=random.Random(0))
    send, discovery = trio.open_memory_channel[Update](math.inf)
    send.send_nowait(Reset([(i, None) for i in range(4)]))
    async with open_pool_queue(pool, discovery) as queue:

        async def client(n: int) -> None:
            for i in range(n):
                await queue.call(i)

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(client, 50)
            await trio.sleep(0.1)
            send.send_nowait(Remove([0, 1]))
            await trio.testing.wait_all_tasks_blocked(cushion=0.0)
            removed_calls = len(factory.made[0].calls) + len(factory.made[1].calls)
        assert len(factory.made[0].calls) + len(factory.made[1].calls) == removed_calls
        assert sum(len(e.calls) for e in factory.made) == 400
        assert factory.made[0].closed
        assert factory.made[1].closed
    assert all(e.closed for e in factory.made), "leaving the block closes the endpoints"


async def test_eviction_racing_a_failing_readiness_keeps_the_pool_alive() -> None:
    class Nursed(FakeEndpoint):
        async def ready(self) -> None:
            # A child task fails as the readiness scope is cancelled: ready() raises a
            # group of the child's error and the Cancelled.
            async with trio.open_nursery() as nursery:

                async def child() -> None:
                    try:
                        await trio.sleep_forever()
                    finally:
                        raise OSError("connect attempt failed")

                nursery.start_soon(child)
                await trio.sleep_forever()

    made: list[Nursed] = []

    def factory(address: Any, target: Any) -> Nursed:
        made.append(Nursed(address, target, nowait=False))
        return made[-1]

    pool = P2CPool(factory)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        pool.remove_endpoint("a")
        await trio.testing.wait_all_tasks_blocked()
        pool.add_endpoint("b", None)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().pending == 1, "drive() survived the evicted endpoint"
        nursery.cancel_scope.cancel()


async def test_closing_a_pool_takes_one_grace_period_at_most(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Hanging(FakeEndpoint):
        async def aclose(self) -> None:
            await trio.sleep_forever()

    pool: P2CPool[Any, Any, Any, Any] = P2CPool(Hanging)
    pool.reset_pool([(i, None) for i in range(10)])
    start = trio.current_time()
    await pool.aclose()
    assert trio.current_time() - start == pytest.approx(5.0)
