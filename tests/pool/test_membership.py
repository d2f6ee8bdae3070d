"""Membership: members made at once, and the planned members of a large update."""

from __future__ import annotations

import trio
import trio.testing

from trio_pool import EndpointState, P2CPool, SlowStart

from ..support.fake_endpoints import Factory
from .test_ready_cache import driven


async def test_planned_members_belong_to_the_pool_before_they_are_made() -> None:
    factory = Factory()
    pool = P2CPool(factory)
    pool.reset_pool([(i, "a") for i in range(1000)])
    assert pool.members() == dict.fromkeys(range(1000), "a")
    stats = pool.statistics()
    assert stats.endpoints == 1000
    assert stats.ready + stats.pending == 1000
    planned = [e for e in pool.endpoint_statistics() if e.state is EndpointState.NEW]
    assert len(planned) + stats.ready == 1000
    assert len(factory.made) < 1000, "past the first few, endpoints are made later"
    await pool.aclose()


async def test_a_planned_member_that_leaves_or_changes_before_it_is_made() -> None:
    factory = Factory()
    pool = P2CPool(factory)
    pool.reset_pool([(i, "a") for i in range(1000)])
    pool.remove_endpoint(999)
    pool.add_endpoint(998, "b")  # a new target: made at once with it
    pool.reset_pool([*((i, "a") for i in range(990)), (998, "b"), (997, "c")])
    expected = {**dict.fromkeys(range(990), "a"), 998: "b", 997: "c"}
    assert pool.members() == expected
    async with driven(pool):
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().ready == len(expected)
        live = {(e.address, e.target) for e in factory.made if not e.closed}
        assert live == set(expected.items()), "made once each, with its latest target"
        assert not any(e.address == 999 for e in factory.made), "never made: it left first"


async def test_a_planned_member_joins_the_plan_again_in_a_later_update() -> None:
    factory = Factory()
    pool = P2CPool(factory)
    first = [(i, "a") for i in range(500)]
    pool.reset_pool(first)
    pool.reset_pool(first[:100])  # most leave the plan
    pool.reset_pool([*first[:100], *((i, "b") for i in range(100, 500))])
    async with driven(pool):
        await trio.testing.wait_all_tasks_blocked()
        made = [e for e in factory.made if not e.closed]
        assert sorted((e.address, e.target) for e in made) == sorted(
            [*first[:100], *((i, "b") for i in range(100, 500))]
        )
        assert len(made) == 500, "each made once"


async def test_closing_the_pool_drops_its_plan() -> None:
    factory = Factory()
    pool = P2CPool(factory)
    pool.reset_pool([(i, None) for i in range(1000)])
    made = len(factory.made)
    await pool.aclose()
    assert pool.members() == {}
    assert pool.statistics().endpoints == 0
    assert len(factory.made) == made, "nothing made once closed"
    assert all(e.closed for e in factory.made)


async def test_a_member_that_left_the_plan_ramps_from_when_it_joined_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Its first listing, in an earlier batch, is stale: made from it, the member would
    # ramp up from the first join, as if it had never left.
    factory = Factory()
    pool = P2CPool(factory, slow_start=SlowStart(window=100.0))
    async with driven(pool):
        pool.reset_pool([("warm", None)])
        await trio.sleep(1)
        target = object()
        many = [(i, target) for i in range(500)]
        pool.reset_pool([("warm", None), *many])  # planned, past the first few
        pool.reset_pool([("warm", None)])  # they leave the plan before they are made
        await trio.sleep(50)
        pool.reset_pool([("warm", None), *many])  # the same pairs join again
        await trio.testing.wait_all_tasks_blocked()
        weights = {e.address: e.weight for e in pool.endpoint_statistics()}
        assert len(weights) == 501
        assert all(weights[i] < 0.11 for i in range(500)), "ramping from the second join"
