"""The policies: how a balanced pool chooses among its ready endpoints."""

from __future__ import annotations

import random

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_pool import P2CPool, PendingRequests, RandomPool, RoundRobinPool
from trio_pool._pool._policy import distinct_pair

from ..support.fake_endpoints import Factory


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


async def test_p2c_prefers_the_less_loaded_endpoint() -> None:
    pool = P2CPool(Factory(), load=PendingRequests(), rng=random.Random(3))
    pool.reset_pool([("busy", None), ("idle", None)])
    await pool.ready()
    busy = pool.call("hold")  # whichever was picked now has one in flight
    (held,) = [e.address for e in pool.endpoint_statistics() if e.in_flight]
    for i in range(20):
        pool.ready_nowait()
        address, _ = await pool.call(i)
        assert address != held, "of two, the one with fewer calls in flight"
    busy.close()
    await pool.aclose()


async def test_p2c_spreads_over_every_endpoint() -> None:
    pool = P2CPool(Factory(), load=PendingRequests(), rng=random.Random(5))
    pool.reset_pool([(i, None) for i in range(10)])
    seen = set()
    for i in range(500):
        pool.ready_nowait()
        seen.add((await pool.call(i))[0])
    assert seen == set(range(10))
    await pool.aclose()


async def test_round_robin_takes_turns() -> None:
    pool = RoundRobinPool(Factory())
    pool.reset_pool([(i, None) for i in range(3)])
    picks = []
    for i in range(9):
        pool.ready_nowait()
        picks.append((await pool.call(i))[0])
    assert sorted(picks) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert picks[:3] == picks[3:6] == picks[6:]
    await pool.aclose()


async def test_random_is_uniform_and_reproducible() -> None:
    async def picks(seed: int) -> list[int]:
        pool = RandomPool(Factory(), rng=random.Random(seed))
        pool.reset_pool([(i, None) for i in range(4)])
        chosen = []
        for i in range(4000):
            pool.ready_nowait()
            chosen.append((await pool.call(i))[0])
        await pool.aclose()
        return chosen

    first = await picks(11)
    assert first == await picks(11), "the same rng, the same choices"
    counts = [first.count(i) for i in range(4)]
    assert all(800 < count < 1200 for count in counts), counts
    await trio.testing.wait_all_tasks_blocked()
