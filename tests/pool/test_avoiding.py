"""`BalancedPool.call_avoiding`: a retry or a hedge binds to an endpoint not yet tried."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import BalancedPool, LeastLoadedPool, P2CPool, RandomPool, RoundRobinPool

from ..support.fake_endpoints import Factory
from .test_ready_cache import KINDS, driven

PoolFactory = Callable[..., BalancedPool[Any, Any, Any, Any]]
pools = pytest.mark.parametrize(
    "make_pool", [P2CPool, LeastLoadedPool, RoundRobinPool, RandomPool], ids=lambda p: p.__name__
)
kinds = pytest.mark.parametrize("kind", KINDS)


@pools
@kinds
async def test_avoided_addresses_are_passed_over_while_another_is_ready(
    make_pool: PoolFactory, kind: str
) -> None:
    factory = Factory(KINDS[kind])
    pool = make_pool(factory, rng=random.Random(3))
    async with driven(pool):
        pool.reset_pool([(address, None) for address in "abcde"])
        await trio.testing.wait_all_tasks_blocked()
        for n in range(50):
            avoid = set(random.Random(n).sample("abcde", 4))
            await pool.ready()
            call, address = pool.call_avoiding(n, avoid)
            assert address not in avoid, f"{address} was to be avoided"
            assert await call == (address, n)
            await trio.testing.wait_all_tasks_blocked()


@pools
@kinds
async def test_with_every_ready_endpoint_avoided_the_selected_one_is_used(
    make_pool: PoolFactory, kind: str
) -> None:
    pool = make_pool(Factory(KINDS[kind]))
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        await trio.testing.wait_all_tasks_blocked()
        await pool.ready()
        call, address = pool.call_avoiding("x", {"a", "b"})
        assert address in ("a", "b"), "a retry never waits for an untried endpoint"
        assert await call == (address, "x")


@kinds
async def test_an_avoided_endpoint_that_is_not_ready_is_not_bound(kind: str) -> None:
    factory = Factory(KINDS[kind])
    pool = P2CPool(factory)
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None), ("c", None)])
        await trio.testing.wait_all_tasks_blocked()
        factory.live("b").set_ready(False)  # b says so only when asked (ready_nowait)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(20):
            await pool.ready()
            call, address = pool.call_avoiding(n, {"a"})
            if KINDS[kind].get("nowait"):
                assert address == "c" or address == "a"
            assert address != "b" or not KINDS[kind].get("nowait")
            await call
            await trio.testing.wait_all_tasks_blocked()


@pools
async def test_no_avoidance_picks_as_call_does(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    picks: dict[str, Counter[Any]] = {}
    for how in ("call", "call_avoiding"):
        factory = Factory()
        pool = make_pool(factory, rng=random.Random(11))
        async with driven(pool):
            pool.reset_pool([(address, None) for address in "abcd"])
            await trio.testing.wait_all_tasks_blocked()
            seen: Counter[Any] = Counter()
            for n in range(40):
                await pool.ready()
                if how == "call":
                    address, _ = await pool.call(n)
                else:
                    call, address = pool.call_avoiding(n, frozenset())
                    await call
                seen[address] += 1
            picks[how] = seen
    assert picks["call"] == picks["call_avoiding"], "an empty avoid set changes nothing"


async def test_call_avoiding_needs_a_selection() -> None:
    pool = P2CPool(Factory())
    with pytest.raises(RuntimeError, match=r"call_avoiding\(\) must follow a ready\(\)"):
        pool.call_avoiding("x", set())


async def test_accounting_counts_the_endpoint_actually_bound() -> None:
    factory = Factory({"latency": 1.0})
    pool = P2CPool(factory)
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            await pool.ready()
            call, address = pool.call_avoiding("x", {"a"})
            assert address == "b"

            async def run() -> None:
                await call

            nursery.start_soon(run)
            await trio.testing.wait_all_tasks_blocked()
            in_flight = {e.address: e.in_flight for e in pool.endpoint_statistics()}
            assert in_flight == {"a": 0, "b": 1}
            nursery.cancel_scope.cancel()
        assert pool.statistics().in_flight == 0


@pools
async def test_a_large_pool_avoids_without_listing_every_member(make_pool: PoolFactory) -> None:
    pool = make_pool(Factory(), rng=random.Random(5))
    async with driven(pool):
        pool.reset_pool([(n, None) for n in range(1000)])
        await trio.testing.wait_all_tasks_blocked()
        for n in range(100):
            await pool.ready()
            call, address = pool.call_avoiding(n, {0, 1, 2})
            assert address not in (0, 1, 2)
            await call
