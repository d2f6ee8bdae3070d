"""LeastLoadedPool: each pick is the exact lowest cost among the ready endpoints.

The property drives a pool through calls, latency changes, failures, readiness changes,
membership changes and time, with and without ``ready_nowait()``, slow start and
outlier ejection, and checks every pick against a scan of ``endpoint_statistics()``.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_pool import (
    CallOutcome,
    EndpointState,
    LeastLoadedPool,
    OutlierDetection,
    PeakEwma,
    PendingRequests,
    SlowStart,
)

from ..support.fake_endpoints import Factory, FakeEndpoint
from .test_ready_cache import KINDS, driven

ADDRESSES = range(8)


@attrs.frozen
class Setup:
    kind: str
    load: str
    slow_start: bool
    outlier: bool
    seed: int

    def pool(self, factory: Factory) -> LeastLoadedPool[Any, Any, Any, Any]:
        return LeastLoadedPool(
            factory,
            load=PeakEwma(default_rtt=0.05) if self.load == "peak_ewma" else PendingRequests(),
            rng=random.Random(self.seed),
            slow_start=SlowStart(window=10.0, aggression=1.5) if self.slow_start else None,
            outlier=OutlierDetection(consecutive_failures=3) if self.outlier else None,
        )


setups = st.builds(
    Setup,
    kind=st.sampled_from(list(KINDS)),
    load=st.sampled_from(["peak_ewma", "pending"]),
    slow_start=st.booleans(),
    outlier=st.booleans(),
    seed=st.integers(0, 2**32),
)
addresses = st.sampled_from(ADDRESSES)
ACTIONS = {
    "pick": st.tuples(st.just("pick"), st.integers(1, 6)),
    # A retry's pick: the lowest of the endpoints it has not tried yet.
    "avoid": st.tuples(st.just("avoid"), st.frozensets(addresses, min_size=1, max_size=3)),
    "sleep": st.tuples(st.just("sleep"), st.sampled_from([0.0005, 0.003, 0.05, 0.5, 3.0, 30.0])),
    "latency": st.tuples(
        st.just("latency"), addresses, st.sampled_from([0.0, 0.001, 0.01, 0.2, 1.0])
    ),
    "fail": st.tuples(st.just("fail"), addresses),
    "readiness": st.tuples(st.just("readiness"), addresses),
    "add": st.tuples(st.just("add"), addresses),
    "remove": st.tuples(st.just("remove"), addresses),
}
# Mostly picks, with time passing between them.
FREQUENCIES = ["pick"] * 6 + ["sleep"] * 3 + ["avoid"] * 2
FREQUENCIES += ["latency", "fail", "readiness", "add", "remove"]
actions = st.lists(
    st.sampled_from(FREQUENCIES).flatmap(ACTIONS.__getitem__), min_size=10, max_size=60
)


def lowest_costs(pool: LeastLoadedPool[Any, Any, Any, Any]) -> dict[Any, float]:
    """Each listed endpoint's cost, divided by its slow-start weight: what P2C compares."""
    return {
        e.address: e.load / e.weight
        for e in pool.endpoint_statistics()
        if e.state is EndpointState.READY and e.ejected_until is None
    }


class Run:
    def __init__(self, setup: Setup) -> None:
        self.factory = Factory(dict(KINDS[setup.kind]))
        self.pool = setup.pool(self.factory)
        self.requests = 0
        self.picks = 0

    def endpoint(self, address: Any) -> FakeEndpoint | None:
        if address not in self.pool.members():
            return None
        made = [e for e in self.factory.made if e.address == address]
        return made[-1] if made else None

    def pick(self, nursery: trio.Nursery, avoid: frozenset[Any] = frozenset()) -> None:
        """Bind one call to the pool's selection (leaving out ``avoid`` where another
        endpoint is ready), checking it is the lowest cost."""
        costs = lowest_costs(self.pool)
        self.requests += 1
        request = self.requests
        others: dict[Any, float] = {}
        if avoid:
            call, address = self.pool.call_avoiding(request, avoid)
        else:
            call = self.pool.call(request)
        (chosen,) = [e.address for e in self.factory.made if e.calls[-1:] == [request]]
        if avoid:
            # Endpoints with ready_nowait() asked on the way and found busy left the list
            # (as a plain one leaves it for its call): they were not to be chosen.
            gone = set(costs) - set(lowest_costs(self.pool)) - {chosen}
            others = {a: c for a, c in costs.items() if a not in avoid and a not in gone}
            costs = others or costs
            assert chosen == address
            assert chosen not in avoid or not others, f"{chosen!r} avoided, yet {others}"
        lowest = min(costs.values())
        assert costs[chosen] <= lowest * (1 + 1e-9) + 1e-12, (
            f"picked {chosen!r} at cost {costs[chosen]} while the lowest was {lowest}: {costs}"
        )
        self.picks += 1
        nursery.start_soon(_settle, call)

    async def act(self, action: tuple[Any, ...], nursery: trio.Nursery) -> None:
        what = action[0]
        if what == "pick":
            with trio.move_on_after(5.0):
                await self.pool.ready()
                self.pick(nursery)
                for _ in range(action[1] - 1):  # more in the same tick
                    try:
                        self.pool.ready_nowait()
                    except trio.WouldBlock:
                        break
                    self.pick(nursery)
        elif what == "avoid":
            with trio.move_on_after(5.0):
                await self.pool.ready()
                self.pick(nursery, action[1])
        elif what == "sleep":
            await trio.sleep(action[1])
        elif what == "add":
            self.pool.add_endpoint(action[1], None)
        elif what == "remove":
            self.pool.remove_endpoint(action[1])
        elif (endpoint := self.endpoint(action[1])) is not None:
            if what == "latency":
                endpoint.latency = action[2]
            elif what == "fail":
                endpoint.fail_calls = not endpoint.fail_calls
            else:
                endpoint.set_ready(not endpoint.is_ready)


async def _settle(call: Any) -> None:
    with contextlib.suppress(ConnectionError):
        await call


@settings(max_examples=150, deadline=None)
@given(setup=setups, script=actions)
def test_every_pick_is_the_lowest_cost_ready_endpoint(
    setup: Setup, script: list[tuple[Any, ...]]
) -> None:
    async def main() -> None:
        run = Run(setup)
        async with driven(run.pool):
            run.pool.reset_pool([(address, None) for address in range(4)])
            async with trio.open_nursery() as calls:
                for action in script:
                    await run.act(action, calls)
            # Every call has ended: nothing is counted any more.
            assert run.pool.statistics().in_flight == 0
            assert all(e.in_flight == 0 for e in run.pool.endpoint_statistics())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("seed", range(3))
async def test_ties_are_drawn_at_random(seed: int) -> None:
    factory = Factory()
    pool = LeastLoadedPool(factory, load=PendingRequests(), rng=random.Random(seed))
    async with driven(pool):
        pool.reset_pool([(address, None) for address in range(10)])
        await trio.testing.wait_all_tasks_blocked()
        order = []
        for i in range(2000):
            await pool.ready()
            address, _ = await pool.call(i)  # each call ends before the next: all tie
            order.append(address)
    assert order[:10] != list(range(10)), "not in the update's order"
    assert len({tuple(order[i : i + 10]) for i in range(0, 2000, 10)}) > 150, "nor in a cycle"
    answered = Counter(order)
    # 2000 draws among 10: each share within four standard deviations of 200.
    assert all(145 <= n <= 255 for n in answered.values()), f"fair shares: {answered}"


async def test_a_slow_endpoint_is_left_alone_while_a_better_one_is_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory()
    pool = LeastLoadedPool(factory, rng=random.Random(2))
    async with driven(pool), trio.open_nursery() as nursery:
        pool.reset_pool([(address, None) for address in range(4)])
        await trio.testing.wait_all_tasks_blocked()
        factory.live(0).latency = 1.0
        for address in (1, 2, 3):
            factory.live(address).latency = 0.005

        async def caller() -> None:
            for i in range(200):
                await pool.ready()
                await pool.call(i)

        for _ in range(6):
            nursery.start_soon(caller)
    slow = len(factory.live(0).calls)
    # Its first calls tell the pool it is slow; after that it is tried only once its
    # estimate has decayed below the others' (which takes far longer than this run).
    assert slow <= 3, f"the slow endpoint took {slow} calls of 1200"


@attrs.define
class CountingLoad:
    """Pending requests, counting how often the pool asks trackers for cost and key."""

    costs: int = 0
    keys: int = 0

    def tracker(self, now: float) -> CountingTracker:
        return CountingTracker(self)


@attrs.define
class CountingTracker:
    load: CountingLoad
    in_flight: int = 0

    def cost(self, now: float) -> float:
        self.load.costs += 1
        return float(self.in_flight + 1)

    def key(self) -> float:
        self.load.keys += 1
        return math.log1p(self.in_flight)

    def start(self, now: float) -> None:
        self.in_flight += 1

    def end(self, started: float, now: float, outcome: CallOutcome) -> None:
        self.in_flight -= 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_pick_reads_no_endpoint_but_the_one_it_picks(kind: str) -> None:
    load = CountingLoad()
    pool = LeastLoadedPool(Factory(dict(KINDS[kind])), load=load, rng=random.Random(1))
    async with driven(pool):
        pool.reset_pool([(address, None) for address in range(1000)])
        await trio.testing.wait_all_tasks_blocked()
        before = load.keys
        for i in range(100):
            await pool.ready()
            await pool.call(i)
            await trio.testing.wait_all_tasks_blocked()
        assert load.costs == 0, "no cost is read: the heap orders the endpoints by key"
        # A key when the call starts and when it ends, and, without ready_nowait(),
        # when the endpoint is listed again: never a scan of the thousand.
        assert load.keys - before <= 3 * 100


def test_a_load_without_key_is_refused() -> None:
    class Keyless:
        in_flight = 0

        def cost(self, now: float) -> float:
            return 1.0

        def start(self, now: float) -> None:
            pass

        def end(self, started: float, now: float, outcome: CallOutcome) -> None:
            pass

    class KeylessLoad:
        def tracker(self, now: float) -> Keyless:
            return Keyless()

    with pytest.raises(TypeError, match=r"trackers of .*KeylessLoad.* have none"):
        LeastLoadedPool(Factory(), load=KeylessLoad())
    LeastLoadedPool(Factory(), load=CountingLoad())  # a load of its own, with key()


async def test_a_ramping_endpoint_takes_a_weighted_share_then_a_full_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory({"latency": 0.01})
    pool = LeastLoadedPool(
        factory,
        load=PendingRequests(),
        rng=random.Random(4),
        slow_start=SlowStart(window=20.0, min_weight=0.1),
    )

    async def shares(seconds: float) -> list[int]:
        """Calls each endpoint took from 8 callers over ``seconds``: old ones, then new."""
        for endpoint in factory.made:
            endpoint.calls.clear()
        until = trio.current_time() + seconds

        async def caller() -> None:
            while trio.current_time() < until:
                await pool.ready()
                await pool.call(None)

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(caller)
        return [len(factory.live(address).calls) for address in (0, 1, 2, "new")]

    async with driven(pool):
        pool.reset_pool([(address, None) for address in range(3)])
        await trio.testing.wait_all_tasks_blocked()
        pool.add_endpoint("new", None)
        await trio.testing.wait_all_tasks_blocked()
        *old, new = await shares(1.0)
        assert new < min(old) / 2, f"ramping up, it takes less: {new} against {old}"
        await trio.sleep(20.0)
        *old, new = await shares(1.0)
        assert min(old) * 0.8 <= new <= max(old) * 1.2, f"ramped up: {new} against {old}"
