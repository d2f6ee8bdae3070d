"""`BalancedPool`: membership diffs, updates applied whole, bad input, statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from trio_pool import (
    BalancedPool,
    EndpointState,
    LeastLoadedPool,
    P2CPool,
    PoolMetricFamilies,
    RandomPool,
    Reset,
    RoundRobinPool,
    apply_update,
)

from ..support.fake_endpoints import Factory
from .test_ready_cache import KINDS, driven

PoolFactory = Callable[..., BalancedPool[Any, Any, Any, Any]]
pools = pytest.mark.parametrize(
    "make_pool", [P2CPool, LeastLoadedPool, RoundRobinPool, RandomPool], ids=lambda p: p.__name__
)


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
async def test_a_reset_keeps_unchanged_endpoints_and_their_load(make_pool: PoolFactory) -> None:
    factory = Factory({"latency": 1.0})
    pool = make_pool(factory)
    pool.reset_pool([("a", 1)])
    async with driven(pool):
        await pool.ready()
        running = pool.call("x")  # in flight on a, the only endpoint
        pool.reset_pool([("a", 1), ("b", 1), ("c", 1)])
        a, b, c = factory.made
        pool.reset_pool([("a", 1), ("b", 2)])
        await trio.testing.wait_all_tasks_blocked()
        assert factory.made[:3] == [a, b, c]
        assert not a.closed, "unchanged: same endpoint, no reconnect"
        (kept,) = [e for e in pool.endpoint_statistics() if e.address == "a"]
        assert kept.in_flight == 1, "unchanged: its accounting kept"
        assert b.closed, "rebuilt for its new target"
        assert c.closed, "absent: evicted"
        assert factory.live("b").target == 2
        running.close()
        assert pool.statistics().in_flight == 0


@pools
async def test_malformed_updates_leave_the_pool_intact(make_pool: PoolFactory) -> None:
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
    assert pool.members() == {"a": 1}
    await pool.aclose()


class Touchy:
    """A target whose comparison raises, as some users' metadata objects do."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("cannot compare")

    __hash__ = object.__hash__


@pools
async def test_a_target_whose_eq_raises_leaves_the_pool_as_it_was(
    make_pool: PoolFactory,
) -> None:
    factory = Factory()
    pool = make_pool(factory)
    touchy = Touchy()
    pool.reset_pool([("a", touchy), ("b", 1), ("c", 1)])
    before = pool.members()
    with pytest.raises(RuntimeError, match="cannot compare"):
        # The diff compares a's targets, after c's removal and d's addition were found:
        # nothing of it may be applied.
        pool.reset_pool([("b", 1), ("d", 1), ("a", Touchy())])
    assert pool.members() == before
    assert len(factory.made) == 3
    assert not any(e.closed for e in factory.made)
    with pytest.raises(RuntimeError, match="cannot compare"):
        pool.add_endpoint("a", Touchy())
    assert pool.members() == before
    pool.reset_pool([("a", touchy)])  # the same object: no comparison needed
    assert pool.members() == {"a": touchy}
    await pool.aclose()


@pools
async def test_a_large_update_is_whole_at_once_and_made_in_the_background(
    make_pool: PoolFactory,
) -> None:
    factory = Factory()
    pool = make_pool(factory)
    pool.reset_pool([(i, None) for i in range(10_000)])
    assert len(pool.members()) == 10_000, "the membership is the update's at once"
    assert 0 < len(factory.made) < 10_000, "only the first endpoints are made at once"
    pool.reset_pool([(i, None) for i in range(5_000, 15_000)])
    assert sorted(pool.members()) == list(range(5_000, 15_000))
    async with driven(pool):
        await trio.testing.wait_all_tasks_blocked()
        stats = pool.statistics()
        assert (stats.endpoints, stats.ready, stats.pending) == (10_000, 10_000, 0)
        open_ = {e.address for e in factory.made if not e.closed}
        assert open_ == set(range(5_000, 15_000)), "one open endpoint per member, each made"
        closed = {e.address for e in factory.made if e.closed}
        assert closed <= set(range(5_000)), "only those of the first update that left"


@pools
@pytest.mark.parametrize("kind", KINDS)
async def test_an_endpoint_whose_call_raises_at_once_fails_that_request_only(
    make_pool: PoolFactory, kind: str
) -> None:
    factory = Factory(KINDS[kind])
    pool = make_pool(factory)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        endpoint = factory.made[0]
        endpoint.call_error = ValueError("rejected")
        await pool.ready()
        call = pool.call("x")  # binding does not raise: the awaitable does
        with pytest.raises(ValueError, match="rejected"):
            await call
        endpoint.call_error = None
        await trio.testing.wait_all_tasks_blocked()
        await pool.ready()
        assert await pool.call("y") == ("a", "y")
        assert pool.statistics().in_flight == 0
        assert pool.members() == {"a": None}


async def test_apply_update_refuses_what_is_not_an_update() -> None:
    pool = P2CPool(Factory())
    with pytest.raises(TypeError, match="expected Reset, Add, Remove or DoesNotExist"):
        apply_update(pool, [("a", 1)])  # type: ignore[arg-type]
    apply_update(pool, Reset({"a": 1}))
    assert pool.members() == {"a": 1}
    await pool.aclose()


async def test_statistics_describe_the_pool(mock_clock: trio.testing.MockClock) -> None:
    # Time stands still: "a" stays backing off however slow the machine.
    factory = Factory({"nowait": False, "is_ready": False}, fail_next=1)
    pool = P2CPool(factory)
    assert pool.statistics().describe() == "the pool has no endpoints"
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None), ("c", None)])
        await trio.testing.wait_all_tasks_blocked()
        factory.made[0].set_ready(True)
        await trio.testing.wait_all_tasks_blocked()
        stats = pool.statistics()
        assert (stats.endpoints, stats.ready, stats.pending, stats.backing_off) == (3, 1, 1, 1)
        assert stats.describe() == (
            "3 endpoints (1 ready, 1 pending, 1 backing off); "
            "last endpoint error: OSError(\"cannot make 'a'\")"
        )
        by_address = {e.address: e for e in pool.endpoint_statistics()}
        assert by_address["a"].state is EndpointState.BACKING_OFF
        assert by_address["a"].failures == 1
        assert isinstance(by_address["a"].last_error, OSError)
        assert {by_address["b"].state, by_address["c"].state} == {
            EndpointState.READY,
            EndpointState.PENDING,
        }


def test_pools_check_their_arguments() -> None:
    with pytest.raises(TypeError, match="new_endpoint must be callable"):
        P2CPool(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"metrics must come from PoolMetricFamilies.labels\(\)"):
        RoundRobinPool(Factory(), metrics="yes")  # type: ignore[arg-type]
