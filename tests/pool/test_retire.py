"""Retiring: endpoints out of service drain, then close, within one grace period."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trio_pool import P2CPool, Remove, Reset, Update, open_pool_queue

from ..support.fake_endpoints import Factory, FakeEndpoint
from .test_ready_cache import KINDS, driven, kinds


async def _await(awaitable: Any) -> None:
    await awaitable


@kinds
async def test_evicted_endpoints_close_after_their_calls_end(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({**KINDS[kind], "latency": 5.0})
    pool = P2CPool(factory)
    async with driven(pool), trio.open_nursery() as callers:
        pool.add_endpoint("a", None)
        await pool.ready()
        callers.start_soon(_await, pool.call("x"))
        await trio.sleep(1)
        pool.remove_endpoint("a")
        await trio.sleep(1)
        assert not factory.made[0].closed, "a call still runs on it"
        assert pool.statistics().draining == 1
        await trio.sleep(4)
        assert factory.made[0].closed
        assert pool.statistics().in_flight == pool.statistics().draining == 0


class HangsWhenClosed(FakeEndpoint):
    async def aclose(self) -> None:
        self.closed = True
        await trio.sleep_forever()


async def test_closing_a_pool_takes_one_grace_period_at_most(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pool: P2CPool[Any, Any, Any, Any] = P2CPool(HangsWhenClosed)
    pool.reset_pool([(i, None) for i in range(10)])
    start = trio.current_time()
    await pool.aclose()
    assert trio.current_time() - start == pytest.approx(5.0)


async def test_leaving_the_block_takes_one_grace_period_even_after_evictions(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # An evicted endpoint's close hangs, then the block is left while it still does:
    # its close, and the close of the pool's other endpoints, share one grace period.
    made: list[HangsWhenClosed] = []

    def factory(address: Any, target: Any) -> HangsWhenClosed:
        made.append(HangsWhenClosed(address, target))
        return made[-1]

    updates, discovery = trio.open_memory_channel[Update](math.inf)
    updates.send_nowait(Reset([(i, None) for i in range(3)]))
    async with open_pool_queue(P2CPool(factory), discovery) as queue:
        assert await queue.call("x")
        updates.send_nowait(Remove([0]))
        await trio.sleep(1)
        assert made[0].closed, "the evicted endpoint's close started"
        start = trio.current_time()
    assert trio.current_time() - start <= 5.0
    assert all(endpoint.closed for endpoint in made)


@kinds
async def test_callers_that_outlive_the_block_see_their_endpoint_closed_after_their_calls(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({**KINDS[kind], "latency": 2.0})
    done: list[float] = []
    updates, discovery = trio.open_memory_channel[Update](math.inf)
    updates.send_nowait(Reset([("a", None)]))

    async def caller(queue: Any) -> None:
        assert await queue.call("x") == ("a", "x")
        assert not factory.made[0].closed, "closed while its call still ran"
        done.append(trio.current_time())

    async with trio.open_nursery() as outer:
        async with open_pool_queue(P2CPool(factory), discovery) as queue:
            outer.start_soon(caller, queue)
            await trio.sleep(1)
        left = trio.current_time()
    assert done == [2.0], "the call ran to its end"
    assert left == 2.0, "leaving the block waited for the call, not for the whole grace"
    assert factory.made[0].closed


async def test_calls_that_outlive_the_grace_do_not_hold_the_pool_open(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    factory = Factory({"latency": 60.0})
    pool = P2CPool(factory)
    async with trio.open_nursery() as callers:
        async with driven(pool):
            pool.add_endpoint("a", None)
            await pool.ready()
            callers.start_soon(_await, pool.call("x"))
            await trio.sleep(1)
        assert trio.current_time() <= 1 + 5, "the pool closed within its grace"
        assert factory.made[0].closed, "closed, abruptly, with a call still running"
        callers.cancel_scope.cancel()
    assert "closing 1 endpoints while calls still run on them" in caplog.text


@attrs.define  # eq=True: unhashable, and compared by value, as user classes often are
class ValueLikeEndpoint:
    address: Any
    target: Any
    closes: int = 0

    async def ready(self) -> None:
        pass

    async def call(self, request: Any) -> Any:
        await trio.sleep(1)
        return request

    async def aclose(self) -> None:
        self.closes += 1


async def test_endpoints_need_not_be_hashable_nor_distinct_by_value(
    autojump_clock: trio.testing.MockClock,
) -> None:
    made: list[ValueLikeEndpoint] = []

    def factory(address: Any, target: Any) -> ValueLikeEndpoint:
        made.append(ValueLikeEndpoint("same", None))  # every one equal to the others
        return made[-1]

    pool = P2CPool(factory)
    async with driven(pool), trio.open_nursery() as callers:
        pool.reset_pool([("a", None), ("b", None)])
        for i in range(2):
            await pool.ready()
            callers.start_soon(_await, pool.call(i))
        pool.reset_pool([])
        await trio.sleep(2)
        assert [e.closes for e in made] == [1, 1], "each closed once, after its own call"


class CloseFails(FakeEndpoint):
    async def aclose(self) -> None:
        self.closed = True
        raise OSError("close failed")


class NoClose:
    async def ready(self) -> None:
        pass

    async def call(self, request: Any) -> Any:
        return request


async def test_a_failing_close_is_logged_and_an_endpoint_without_aclose_is_fine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool: P2CPool[Any, Any, Any, Any] = P2CPool(
        lambda address, target: CloseFails(address, target) if address == "a" else NoClose()
    )
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        await trio.testing.wait_all_tasks_blocked()
        pool.reset_pool([])
        await trio.testing.wait_all_tasks_blocked()
    assert "closing endpoint" in caplog.text
    assert "close failed" in caplog.text
