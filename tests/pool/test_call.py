"""Call accounting: whatever happens to a bound call, it is counted until it ends, once."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import (
    BalancedPool,
    LeastLoadedPool,
    P2CPool,
    RandomPool,
    Remove,
    Reset,
    RoundRobinPool,
    Update,
    open_pool_queue,
)

from ..support.fake_endpoints import Factory
from .test_ready_cache import KINDS, driven, kinds

pools = pytest.mark.parametrize(
    "make_pool", [P2CPool, LeastLoadedPool, RoundRobinPool, RandomPool], ids=lambda p: p.__name__
)


@kinds
@pools
async def test_accounting_ends_once_however_calls_end(
    kind: str,
    make_pool: Callable[..., BalancedPool[Any, Any, Any, Any]],
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory({**KINDS[kind], "latency": 1.0})
    pool = make_pool(factory)
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        await trio.testing.wait_all_tasks_blocked()
        # Cancelled mid-call.
        await pool.ready()
        with trio.move_on_after(0.5):
            await pool.call("cancelled")
        # Cancelled before it is sent (while a plain endpoint's readiness is awaited).
        await pool.ready()
        with trio.CancelScope() as scope:
            scope.cancel()
            await pool.call("cancelled before")
        # Never awaited.
        await pool.ready()
        pool.call("dropped").close()
        # Failed.
        factory.made[0].fail_calls = factory.made[1].fail_calls = True
        await pool.ready()
        with pytest.raises(ConnectionError):
            await pool.call("failed")
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().in_flight == 0
        assert all(e.in_flight == 0 for e in pool.endpoint_statistics())
        assert pool.statistics().ready == 2, "every endpoint ready again"


@kinds
async def test_a_dropped_call_on_a_plain_endpoint_makes_it_ready_again(kind: str) -> None:
    factory = Factory(KINDS[kind])
    pool = RoundRobinPool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(3):
            await pool.ready()
            pool.call(i).close()
            await trio.testing.wait_all_tasks_blocked()
            assert pool.statistics().ready == 1
        assert factory.made[0].calls == [0, 1, 2], "bound, then dropped unawaited"


async def test_a_call_cannot_be_bound_without_a_selection() -> None:
    pool = P2CPool(Factory())
    with pytest.raises(RuntimeError, match="must follow a ready"):
        pool.call("x")
    pool.add_endpoint("a", None)
    pool.ready_nowait()
    pool.remove_endpoint("a")  # the selected endpoint left
    with pytest.raises(RuntimeError, match="must follow a ready"):
        pool.call("x")
    await pool.aclose()


@kinds
async def test_behind_the_queue_a_removed_endpoint_is_never_called(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({**KINDS[kind], "latency": 0.01})
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
        assert queue.closed_error is None
    assert all(e.closed for e in factory.made), "leaving the block closes the endpoints"
