"""The ready cache, through the shipped pools: readiness, re-arming, backoff, eviction.

Every test runs over endpoints with only ``ready()`` (plain, whose ``ready()`` returns
at once or checkpoints first) as well as over endpoints with ``ready_nowait()``: the
paths users take, not only ours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from trio_pool import (
    Backoff,
    BalancedPool,
    EndpointState,
    LeastLoadedPool,
    P2CPool,
    PoolMetricFamilies,
    RandomPool,
    RoundRobinPool,
)

from ..support.fake_endpoints import Factory, FakeEndpoint

NO_JITTER = Backoff(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.0)

KINDS = {
    "nowait": {"nowait": True},
    "plain-instant": {"nowait": False, "instant": True},
    "plain-checkpoint": {"nowait": False},
}
kinds = pytest.mark.parametrize("kind", KINDS)
POOLS: list[Callable[..., BalancedPool[Any, Any, Any, Any]]] = [
    P2CPool,
    LeastLoadedPool,
    RoundRobinPool,
    RandomPool,
]
pools = pytest.mark.parametrize("make_pool", POOLS, ids=lambda p: p.__name__)


@asynccontextmanager
async def driven(pool: BalancedPool[Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Run the pool's drive() around the block, then close the pool."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        yield
        nursery.cancel_scope.cancel()
    await pool.aclose()


def states(pool: BalancedPool[Any, Any, Any, Any]) -> dict[Any, EndpointState]:
    return {e.address: e.state for e in pool.endpoint_statistics()}


@kinds
async def test_a_new_endpoint_is_pending_until_ready(kind: str) -> None:
    factory = Factory({**KINDS[kind], "is_ready": False})
    pool = P2CPool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        assert (pool.statistics().ready, pool.statistics().pending) == (0, 1)
        factory.made[0].set_ready(True)
        await trio.testing.wait_all_tasks_blocked()
        assert (pool.statistics().ready, pool.statistics().pending) == (1, 0)
        await pool.ready()
        assert await pool.call("x") == ("a", "x")


@kinds
async def test_readiness_is_asked_again_after_every_call(kind: str) -> None:
    factory = Factory(KINDS[kind])
    pool = P2CPool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        endpoint = factory.made[0]
        for i in range(5):
            await pool.ready()
            assert await pool.call(i) == ("a", i)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.statistics().ready == 1, "ready again after each call"
        if kind != "nowait":
            # Awaited once to start with, then once per call (a checkpointing ready()
            # is cancelled once in the caller's task, then left to the pool's task).
            expected = 6 if kind == "plain-instant" else 7
            assert endpoint.ready_waits == expected


async def test_a_plain_endpoint_that_returns_at_once_is_ready_again_before_anyone_else_runs() -> (
    None
):
    factory = Factory(KINDS["plain-instant"])
    pool = RoundRobinPool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        await pool.ready()
        call = pool.call("x")
        assert pool.statistics().ready == 0, "bound: not ready until its ready() returns"
        assert await call == ("a", "x")
        # The caller awaited ready() for the next request, with no task of the pool's.
        pool.ready_nowait()
        assert await pool.call("y") == ("a", "y")


@kinds
async def test_an_endpoint_that_is_busy_goes_pending_until_ready_again(kind: str) -> None:
    factory = Factory(KINDS[kind])
    pool = P2CPool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        endpoint = factory.made[0]
        endpoint.set_ready(False)
        if kind == "nowait":
            # Asked again as it is picked.
            with pytest.raises(trio.WouldBlock):
                pool.ready_nowait()
        else:
            # Listed ready since its ready() returned: it takes this call, and its
            # ready() awaited for the next one tells it is busy.
            await pool.ready()
            assert await pool.call("x") == ("a", "x")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.WouldBlock):
                pool.ready_nowait()
        assert states(pool) == {"a": EndpointState.PENDING}
        endpoint.set_ready(True)
        with trio.fail_after(1):
            await pool.ready()


@kinds
async def test_evicting_a_pending_endpoint_cancels_its_wait_and_closes_it(kind: str) -> None:
    factory = Factory({**KINDS[kind], "is_ready": False})
    pool = P2CPool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        endpoint = factory.made[0]
        assert endpoint.ready_waits >= 1
        pool.remove_endpoint("a")
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint.ready_cancelled >= 1
        assert endpoint.closed
        stats = pool.statistics()
        assert (stats.endpoints, stats.ready, stats.pending, stats.backing_off) == (0, 0, 0, 0)


# -- the crashes of a removal that races a readiness wait not started yet ---------------


@kinds
@pools
async def test_add_and_remove_in_one_tick(
    kind: str, make_pool: Callable[..., BalancedPool[Any, Any, Any, Any]]
) -> None:
    factory = Factory(KINDS[kind])
    pool = make_pool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        pool.remove_endpoint("a")
        pool.add_endpoint("b", None)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().ready == 1, "drive() survived"
        assert factory.made[0].closed


@kinds
async def test_a_removal_right_after_a_call_was_bound(kind: str) -> None:
    factory = Factory(KINDS[kind])
    pool = P2CPool(factory)
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        await trio.testing.wait_all_tasks_blocked()
        for i in range(20):
            await pool.ready()
            call = pool.call(i)
            address = call_address(pool, factory)
            pool.remove_endpoint(address)  # the same tick as the bind
            assert (await call)[0] == address, "a bound call still runs on its endpoint"
            pool.add_endpoint(address, i)
            await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().ready == 2, "drive() survived every removal"


def call_address(pool: BalancedPool[Any, Any, Any, Any], factory: Factory) -> Any:
    (address,) = [e.address for e in pool.endpoint_statistics() if e.in_flight]
    return address


@kinds
async def test_a_failure_then_a_removal(kind: str, autojump_clock: trio.testing.MockClock) -> None:
    factory = Factory(KINDS[kind], fail_next=1)
    pool = P2CPool(factory, backoff=NO_JITTER)
    async with driven(pool):
        pool.add_endpoint("a", None)  # the factory fails: it backs off
        pool.remove_endpoint("a")  # and leaves, in the same tick
        pool.add_endpoint("b", None)
        await trio.testing.wait_all_tasks_blocked()
        (b,) = factory.made
        b.fail_ready(ConnectionRefusedError("refused"))
        if kind == "nowait":
            with pytest.raises(trio.WouldBlock):
                pool.ready_nowait()  # asked as it is picked: it fails there
        else:
            await pool.ready()
            assert await pool.call("x") == ("b", "x")  # its next ready() fails
            await trio.testing.wait_all_tasks_blocked()
        assert states(pool) == {"b": EndpointState.BACKING_OFF}
        pool.remove_endpoint("b")  # in the same tick as the failure
        pool.add_endpoint("c", None)
        with trio.fail_after(30):
            await pool.ready()
        assert pool.members() == {"c": None}
        await trio.testing.wait_all_tasks_blocked()
        assert b.closed


# -- backoff --------------------------------------------------------------------------


@kinds
async def test_failed_endpoints_back_off_and_are_made_anew(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    registry = CollectorRegistry()
    metrics = PoolMetricFamilies.register(registry).labels()
    factory = Factory(KINDS[kind])
    failing = 3

    def flaky(address: Any, target: Any) -> FakeEndpoint:
        nonlocal failing
        endpoint = factory(address, target)
        if failing:
            failing -= 1
            endpoint.fail_ready(OSError("refused"))
        return endpoint

    pool = P2CPool(flaky, backoff=NO_JITTER, metrics=metrics)
    async with driven(pool):
        start = trio.current_time()
        pool.add_endpoint("a", None)
        await pool.ready()
        # Failures at 0, 1 and 3 s; delays 1, 2, 4 s: ready on the fourth try, at 7 s.
        assert [t - start for t in factory.made_at] == [0, 1, 3, 7]
        assert trio.current_time() - start == 7
        assert [e.closed for e in factory.made] == [True, True, True, False]
        assert registry.get_sample_value("trio_pool_endpoint_failures_total") == 3
        (endpoint,) = pool.endpoint_statistics()
        assert endpoint.failures == 0, "a ready endpoint has no failures in a row"
        assert isinstance(endpoint.last_error, OSError)
        assert isinstance(pool.statistics().last_error, OSError)


async def test_a_failing_factory_is_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory(fail_next=2)
    pool = RoundRobinPool(factory, backoff=NO_JITTER)
    async with driven(pool):
        start = trio.current_time()
        pool.add_endpoint("a", None)
        assert pool.statistics().backing_off == 1
        await pool.ready()
        assert trio.current_time() - start == 3


@kinds
async def test_a_ready_that_fails_later_backs_off(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory(KINDS[kind])
    pool = P2CPool(factory, backoff=NO_JITTER)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await pool.ready()
        factory.made[0].fail_ready(ConnectionResetError("reset"))
        # Bound now: its readiness for the next call fails.
        assert await pool.call("x") == ("a", "x")
        await trio.testing.wait_all_tasks_blocked()
        if kind == "nowait":
            with pytest.raises(trio.WouldBlock):
                pool.ready_nowait()  # asked again as it is picked: it fails there
        assert states(pool) == {"a": EndpointState.BACKING_OFF}
        await pool.ready()
        assert len(factory.made) == 2


async def test_eviction_racing_a_failing_readiness_keeps_the_pool_alive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Nursed(FakeEndpoint):
        async def ready(self) -> None:
            # A child task fails as the readiness wait is cancelled: ready() raises a
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
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        pool.remove_endpoint("a")
        await trio.testing.wait_all_tasks_blocked()
        pool.add_endpoint("b", None)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().pending == 1, "drive() survived the evicted endpoint"
    assert "connect attempt failed" in caplog.text


class TaskCount(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


@pytest.mark.parametrize("kind", ["nowait", "plain-instant"])
@pools
async def test_endpoints_ready_at_once_need_no_task(
    kind: str, make_pool: Callable[..., BalancedPool[Any, Any, Any, Any]]
) -> None:
    factory = Factory(KINDS[kind])
    pool = make_pool(factory)
    pool.reset_pool([(i, None) for i in range(1000)])
    assert pool.members() == dict.fromkeys(range(1000)), "the update is whole at once"
    tasks = TaskCount()
    trio.lowlevel.add_instrument(tasks)
    try:
        async with driven(pool):
            await trio.testing.wait_all_tasks_blocked()
            stats = pool.statistics()
            assert (stats.ready, stats.pending) == (1000, 0)
            for i in range(100):
                await pool.ready()
                await pool.call(i)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.statistics().ready == 1000
    finally:
        trio.lowlevel.remove_instrument(tasks)
    # drive() and its parts, the readiness and close loopers, the close at the end: a
    # dozen at most, whatever the number of endpoints.
    assert tasks.spawned <= 12, f"{tasks.spawned} tasks: a few for the pool, none per endpoint"


async def test_endpoints_whose_ready_blocks_get_a_task_each_only_while_blocked() -> None:
    factory = Factory({"nowait": False, "is_ready": False})
    pool = P2CPool(factory)
    tasks = TaskCount()
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(50)])
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.add_instrument(tasks)
        try:
            for endpoint in factory.made:
                endpoint.set_ready(True)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.statistics().ready == 50
            for i in range(200):
                await pool.ready()
                await pool.call(i)
        finally:
            trio.lowlevel.remove_instrument(tasks)
    assert tasks.spawned <= 3, "the tasks of the blocked waits are reused, not respawned"
