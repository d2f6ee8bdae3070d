"""Endpoint health: outlier ejection and slow start, in every shipped pool."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from trio_pool import (
    BalancedPool,
    CallOutcome,
    EndpointState,
    Lease,
    LeastLoadedPool,
    OutlierDetection,
    P2CPool,
    PendingRequests,
    PoolMetricFamilies,
    RandomPool,
    RoundRobinPool,
    SlowStart,
)
from trio_pool.testing import check_pool

from ..support.fake_endpoints import Factory, FakeEndpoint
from .test_ready_cache import KINDS, driven

PoolFactory = Callable[..., BalancedPool[Any, Any, Any, Any]]
ALL_POOLS: dict[str, PoolFactory] = {
    "p2c": P2CPool,
    "least_loaded": LeastLoadedPool,
    "round_robin": RoundRobinPool,
    "random": RandomPool,
}
pools = pytest.mark.parametrize("make_pool", ALL_POOLS.values(), ids=list(ALL_POOLS))


def blind(make_pool: PoolFactory) -> PoolFactory:
    """The pool, comparing calls in flight only: Peak-EWMA would steer away from a
    failing endpoint by itself, and these tests are about ejecting it."""
    if make_pool is P2CPool or make_pool is LeastLoadedPool:
        return lambda *args, **options: make_pool(*args, load=PendingRequests(), **options)
    return make_pool


kinds = pytest.mark.parametrize("kind", KINDS)


# -- the configurations ---------------------------------------------------------------


def test_outlier_detection_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="failure_percentage must be a fraction"):
        OutlierDetection(failure_percentage=20)
    with pytest.raises(ValueError, match="max_ejected_percent must be a fraction"):
        OutlierDetection(max_ejected_percent=1.5)
    with pytest.raises(ValueError, match="consecutive_failures must be >= 1"):
        OutlierDetection(consecutive_failures=0)
    with pytest.raises(TypeError, match="min_requests must be an int"):
        OutlierDetection(min_requests=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval must be a finite number > 0"):
        OutlierDetection(interval=0)
    OutlierDetection(consecutive_failures=None, failure_percentage=0.5)


def test_ejection_time_grows_with_the_multiplier_up_to_the_cap() -> None:
    config = OutlierDetection(base_ejection=30.0, max_ejection=100.0)
    assert [config.ejection_time(m) for m in (1, 2, 3, 4, 10)] == [30, 60, 90, 100, 100]
    # A max_ejection below base_ejection still allows one base ejection.
    assert OutlierDetection(base_ejection=30.0, max_ejection=10.0).ejection_time(5) == 30


def test_at_least_one_endpoint_may_always_be_ejected() -> None:
    config = OutlierDetection(max_ejected_percent=0.1)
    assert [config.allowed(n) for n in (1, 3, 9, 10, 25, 100)] == [1, 1, 1, 1, 2, 10]
    assert OutlierDetection(max_ejected_percent=0.0).allowed(50) == 1


def test_slow_start_weights_follow_envoys_ramp() -> None:
    linear = SlowStart(window=10.0, aggression=1.0, min_weight=0.1)
    assert [linear.weight(t) for t in (0, 0.5, 2.5, 5, 10, 20)] == [0.1, 0.1, 0.25, 0.5, 1, 1]
    eager = SlowStart(window=10.0, aggression=2.0, min_weight=0.0)
    assert eager.weight(2.5) == pytest.approx(0.5)  # (0.25) ** (1/2)
    with pytest.raises(ValueError, match="min_weight must be a fraction"):
        SlowStart(min_weight=2)


# -- outlier ejection -----------------------------------------------------------------


async def _call(pool: BalancedPool[Any, Any, Any, Any], request: Any) -> Any:
    await pool.ready()
    try:
        return await pool.call(request)
    except ConnectionError:
        return None


@pools
@kinds
async def test_consecutive_failures_eject_at_once_and_the_endpoint_returns_later(
    make_pool: PoolFactory, kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    registry = CollectorRegistry()
    metrics = PoolMetricFamilies.register(registry).labels()
    factory = Factory(KINDS[kind])
    outlier = OutlierDetection(consecutive_failures=3, base_ejection=30.0, interval=10.0)
    pool = blind(make_pool)(factory, outlier=outlier, metrics=metrics)
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(4)])
        await trio.testing.wait_all_tasks_blocked()
        bad = factory.live(0)
        bad.fail_calls = True
        answered: Counter[Any] = Counter()
        for i in range(200):
            response = await _call(pool, i)
            answered[response[0] if response else "failed"] += 1
            await trio.testing.wait_all_tasks_blocked()
        assert answered["failed"] == 3, "ejected the moment its third failure in a row ended"
        assert registry.get_sample_value("trio_pool_endpoint_ejections_total") == 1
        assert registry.get_sample_value("trio_pool_endpoints_ejected") == 1
        stats = pool.statistics()
        assert (stats.ejected, stats.ready) == (1, 3)
        assert "1 ejected" in stats.describe()
        (out,) = [e for e in pool.endpoint_statistics() if e.ejected_until is not None]
        assert out.address == 0
        assert not factory.live(0).closed, "an ejected endpoint keeps its connections"
        await trio.sleep(31)
        assert pool.statistics().ejected == 0, "back after its ejection time"
        assert pool.statistics().ready == 4
        assert registry.get_sample_value("trio_pool_endpoints_ejected") == 0


@pools
async def test_a_second_ejection_lasts_longer_and_health_shrinks_it_back(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"nowait": False, "instant": True})
    outlier = OutlierDetection(consecutive_failures=2, base_ejection=10.0, interval=5.0)
    pool = blind(make_pool)(factory, outlier=outlier)
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(3)])
        await trio.testing.wait_all_tasks_blocked()
        bad = factory.live(0)

        async def eject_zero() -> float:
            bad.fail_calls = True
            while not pool.statistics().ejected:
                await _call(pool, "x")
                await trio.testing.wait_all_tasks_blocked()
            bad.fail_calls = False
            start = trio.current_time()
            while pool.statistics().ejected:  # noqa: ASYNC110 - virtual time, no event
                await trio.sleep(1)
            return trio.current_time() - start

        assert 9 <= await eject_zero() <= 11, "the first ejection lasts base_ejection"
        assert 19 <= await eject_zero() <= 21, "the second, twice as long"
        await trio.sleep(5 * 3)  # three healthy intervals: the multiplier is back to 0
        assert 9 <= await eject_zero() <= 11


@pools
async def test_no_more_than_the_cap_is_ejected_and_no_call_fails_fast(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"nowait": False, "instant": True})
    outlier = OutlierDetection(consecutive_failures=1, max_ejected_percent=0.1)
    pool = blind(make_pool)(factory, outlier=outlier)
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(10)])
        await trio.testing.wait_all_tasks_blocked()
        for i in range(6):
            factory.live(i).fail_calls = True
        for i in range(300):
            with trio.fail_after(1):  # a ready endpoint is always there
                await _call(pool, i)
            assert pool.statistics().ejected <= 1
        assert pool.statistics().ejected == 1


class Gray(FakeEndpoint):
    """Fails a share of its calls at normal latency: a gray failure."""

    share = 0.3
    rng = random.Random(4)

    def call(self, request: Any) -> Any:
        self.fail_calls = self.rng.random() < self.share
        return super().call(request)


@pools
async def test_failure_percentage_ejects_the_gray_endpoint_each_interval(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"nowait": False, "instant": True, "latency": 0.01})

    def new_endpoint(address: Any, target: Any) -> FakeEndpoint:
        if address == 0:
            return Gray(address, target, nowait=False, instant=True, latency=0.01)
        return factory(address, target)

    outlier = OutlierDetection(
        consecutive_failures=None,
        failure_percentage=0.1,
        min_requests=20,
        interval=2.0,
        max_ejected_percent=0.5,
    )
    pool = blind(make_pool)(new_endpoint, outlier=outlier, rng=random.Random(3))
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(4)])
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        while not pool.statistics().ejected and trio.current_time() - start < 30:
            await _call(pool, "x")
        assert pool.statistics().ejected == 1
        (out,) = [e.address for e in pool.endpoint_statistics() if e.ejected_until is not None]
        assert out == 0, "only the gray one: the others failed no call"


class LeasingEndpoint:
    """Answers at once; marks its lease failed as an HTTP transport does on a 5xx."""

    def __init__(self, address: Any, target: Any) -> None:
        self.address = address
        self.status = 200

    def ready_nowait(self) -> None:
        pass

    async def ready(self) -> None:
        pass

    async def call(self, request: Any) -> Any:
        raise AssertionError("a leasing endpoint is called with call_leased")

    async def call_leased(self, request: Any, lease: Lease) -> Any:
        lease.failed = self.status >= 500
        lease.release()
        return self.address, self.status

    async def aclose(self) -> None:
        pass


async def test_a_leased_call_marked_failed_counts_as_a_failure() -> None:
    made: dict[Any, LeasingEndpoint] = {}

    def factory(address: Any, target: Any) -> LeasingEndpoint:
        made[address] = LeasingEndpoint(address, target)
        return made[address]

    pool = P2CPool(
        factory, load=PendingRequests(), outlier=OutlierDetection(consecutive_failures=2)
    )
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        made["a"].status = 503
        for i in range(50):
            await _call(pool, i)
        assert pool.statistics().ejected == 1
        (out,) = [e.address for e in pool.endpoint_statistics() if e.ejected_until is not None]
        assert out == "a"


async def test_cancelled_and_dropped_calls_say_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory({"latency": 5.0})
    pool = P2CPool(factory, outlier=OutlierDetection(consecutive_failures=1))
    async with driven(pool):
        pool.add_endpoint("a", None)
        for _ in range(5):
            await pool.ready()
            with trio.move_on_after(1):
                await pool.call("cancelled")
            await pool.ready()
            pool.call("dropped").close()
        assert pool.statistics().ejected == 0


async def test_an_ejected_endpoint_that_leaves_no_longer_counts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory()
    pool = P2CPool(factory, outlier=OutlierDetection(consecutive_failures=1))
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        factory.live("a").fail_calls = True
        while not pool.statistics().ejected:
            await _call(pool, "x")
        pool.remove_endpoint("a")
        assert pool.statistics().ejected == 0
        factory.live("b").fail_calls = True
        while not pool.statistics().ejected:
            await _call(pool, "x")
        assert pool.statistics().ejected == 1, "the cap counts the endpoints that stay"


# -- slow start -----------------------------------------------------------------------


@pools
async def test_a_new_endpoint_ramps_up_and_the_first_ones_do_not(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"nowait": True})
    slow_start = SlowStart(window=30.0, min_weight=0.05)
    pool = blind(make_pool)(factory, rng=random.Random(1), slow_start=slow_start)
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(4)])
        await trio.testing.wait_all_tasks_blocked()
        assert all(e.weight == 1 for e in pool.endpoint_statistics()), "first members: no ramp"
        pool.add_endpoint("new", None)
        await trio.testing.wait_all_tasks_blocked()

        async def share(seconds: float) -> float:
            picks: Counter[Any] = Counter()
            end = trio.current_time() + seconds
            while trio.current_time() < end:
                for i in range(20):
                    address, _ = await _call(pool, i)
                    picks[address] += 1
                await trio.sleep(0.1)
            return picks["new"] / sum(picks.values())

        early = await share(3)
        await trio.sleep(9)
        middle = await share(3)
        await trio.sleep(30)
        full = await share(3)
        assert early <= middle < full, (early, middle, full)
        assert early < 0.1, "a fifth would be its full share"
        assert full > 0.12


async def test_slow_start_cannot_help_when_every_endpoint_is_new(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory({"nowait": False, "instant": True})
    pool = RoundRobinPool(factory, slow_start=SlowStart(window=30.0))
    async with driven(pool):
        pool.reset_pool([("a", None)])
        pool.reset_pool([("b", None), ("c", None)])  # a full turnover: nobody is warm
        await trio.testing.wait_all_tasks_blocked()
        assert all(e.weight == 1 for e in pool.endpoint_statistics())
        for i in range(10):
            with trio.fail_after(1):
                await _call(pool, i)


@pytest.mark.parametrize("name", ALL_POOLS)
def test_every_pool_keeps_the_contract_with_health_on(name: str) -> None:
    make = ALL_POOLS[name]
    check_pool(
        lambda new_endpoint: make(
            new_endpoint,
            outlier=OutlierDetection(consecutive_failures=1, failure_percentage=0.5, interval=1),
            slow_start=SlowStart(window=2.0),
        ),
        max_examples=200,
    )


def test_the_outcomes_health_sees_are_the_loads() -> None:
    # What counts as a failure for outlier detection is what the load counts as one.
    assert {CallOutcome.OK, CallOutcome.FAILED} < set(CallOutcome)


# -- the panic threshold ----------------------------------------------------------------


@pools
@kinds
async def test_the_only_endpoint_ejected_is_still_called_in_panic(
    make_pool: PoolFactory, kind: str, autojump_clock: trio.testing.MockClock, caplog: Any
) -> None:
    registry = CollectorRegistry()
    metrics = PoolMetricFamilies.register(registry).labels()
    factory = Factory(KINDS[kind])
    pool = blind(make_pool)(factory, outlier=OutlierDetection(), metrics=metrics)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        factory.live("a").fail_calls = True
        for i in range(5):
            assert await _call(pool, i) is None
        await trio.testing.wait_all_tasks_blocked()
        stats = pool.statistics()
        assert (stats.ejected, stats.panic, stats.ready) == (1, True, 1), stats
        assert "in panic" in stats.describe()
        assert registry.get_sample_value("trio_pool_panic") == 1
        assert registry.get_sample_value("trio_pool_panics_total") == 1
        assert any("panic: 0 of 1 endpoints eligible" in r.message for r in caplog.records)
        factory.live("a").fail_calls = False
        with trio.fail_after(1):
            assert await _call(pool, "recovered") == ("a", "recovered"), (
                "an ejected endpoint that is all there is still takes calls"
            )
        (endpoint,) = pool.endpoint_statistics()
        assert endpoint.state is EndpointState.EJECTED
        assert endpoint.call_failures == 0, "the last call succeeded"


@pools
async def test_panic_ends_when_enough_endpoints_are_eligible_again(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"nowait": True})
    outlier = OutlierDetection(consecutive_failures=1, max_ejected_percent=1.0)
    pool = blind(make_pool)(factory, outlier=outlier)
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None)])
        await trio.testing.wait_all_tasks_blocked()
        factory.live("a").fail_calls = True
        while not pool.statistics().ejected:
            await _call(pool, "x")
        stats = pool.statistics()
        assert (stats.panic, stats.ready) == (False, 1), "one of two eligible: half, no panic"
        factory.live("b").fail_calls = True
        while pool.statistics().ejected < 2:
            await _call(pool, "x")
        stats = pool.statistics()
        assert (stats.panic, stats.ready) == (True, 2), "none eligible: both listed"
        pool.add_endpoint("c", None)
        pool.add_endpoint("d", None)
        pool.add_endpoint("e", None)
        await trio.testing.wait_all_tasks_blocked()
        stats = pool.statistics()
        assert (stats.panic, stats.ready) == (False, 3), "3 of 5 eligible: the two are out"


@pools
@kinds
async def test_endpoints_backing_off_count_against_the_threshold(
    make_pool: PoolFactory, kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory(KINDS[kind])
    outlier = OutlierDetection(consecutive_failures=1)
    pool = blind(make_pool)(factory, outlier=outlier)
    async with driven(pool):
        pool.reset_pool([("a", None), ("b", None), ("c", None)])
        await trio.testing.wait_all_tasks_blocked()
        factory.live("a").fail_calls = True
        while not pool.statistics().ejected:
            await _call(pool, "x")
        assert not pool.statistics().panic, "2 of 3 eligible"
        factory.live("a").fail_calls = False
        for address in "bc":
            factory.live(address).fail_ready(ConnectionRefusedError(address))
        answered: Counter[Any] = Counter()
        started = trio.current_time()
        for i in range(20):
            # Each fails when next asked for readiness (picked, or after its call), and
            # backs off; time stands still meanwhile, so neither comes back.
            response = await _call(pool, i)
            answered[response[0]] += 1
            await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == started, "no call waited"
        stats = pool.statistics()
        assert stats.backing_off == 2, stats
        assert stats.panic, "none eligible: the ejected one is all there is"
        assert answered["a"] >= 15, answered


def test_the_panic_threshold_is_a_fraction() -> None:
    assert OutlierDetection().panic_threshold == 0.5
    with pytest.raises(ValueError, match="panic_threshold must be a fraction"):
        OutlierDetection(panic_threshold=50)
    OutlierDetection(panic_threshold=None)


@pools
async def test_without_a_panic_threshold_the_only_endpoint_stays_out(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({"nowait": True})
    outlier = OutlierDetection(consecutive_failures=1, panic_threshold=None)
    pool = blind(make_pool)(factory, outlier=outlier)
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        factory.live("a").fail_calls = True
        await _call(pool, "x")
        stats = pool.statistics()
        assert (stats.ejected, stats.ready, stats.panic) == (1, 0, False)


# -- calls on members that left ----------------------------------------------------------


@pools
@kinds
async def test_calls_that_fail_after_their_endpoint_left_eject_nothing(
    make_pool: PoolFactory, kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    factory = Factory({**KINDS[kind], "latency": 1.0})
    outlier = OutlierDetection(consecutive_failures=1, panic_threshold=None)
    pool = blind(make_pool)(factory, outlier=outlier)
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(10)])
        await trio.testing.wait_all_tasks_blocked()
        doomed = factory.live(0)
        doomed.fail_calls = True
        failed = 0

        async def call_zero() -> None:
            nonlocal failed
            while True:
                await pool.ready()
                call = pool.call("x")
                if factory.made and doomed.calls:
                    break
                call.close()
            try:
                await call
            except ConnectionError:
                failed += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call_zero)
            await trio.testing.wait_all_tasks_blocked()
            pool.remove_endpoint(0)  # a pod killed: its calls in flight fail afterwards
        assert failed == 1
        assert pool.statistics().ejected == 0, "an endpoint already removed is not ejected"
        factory.live(1).fail_calls = True
        while not pool.statistics().ejected:
            await _call(pool, "y")
        assert [e.address for e in pool.endpoint_statistics() if e.ejected_until] == [1]


# -- Retry-After penalties ----------------------------------------------------------------


class ThrottledEndpoint(LeasingEndpoint):
    """Answers at once; a 429 answer says Retry-After through its lease."""

    retry_after: float | None = None

    async def call_leased(self, request: Any, lease: Lease) -> Any:
        lease.retry_after = self.retry_after
        self.retry_after = None
        lease.release()
        return self.address, request


def throttled_pool(
    make_pool: PoolFactory, **options: Any
) -> tuple[BalancedPool[Any, Any, Any, Any], dict[Any, ThrottledEndpoint]]:
    made: dict[Any, ThrottledEndpoint] = {}

    def factory(address: Any, target: Any) -> ThrottledEndpoint:
        made[address] = ThrottledEndpoint(address, target)
        return made[address]

    return blind(make_pool)(factory, rng=random.Random(3), **options), made


@pools
@pytest.mark.parametrize("outlier", [None, OutlierDetection()], ids=["no-outlier", "outlier"])
async def test_a_penalised_endpoint_is_avoided_until_its_retry_after_ends(
    make_pool: PoolFactory, outlier: OutlierDetection | None, autojump_clock: trio.testing.MockClock
) -> None:
    pool, made = throttled_pool(make_pool, outlier=outlier)
    async with driven(pool):
        pool.reset_pool([(i, None) for i in range(4)])
        await trio.testing.wait_all_tasks_blocked()
        made[0].retry_after = 5.0
        while made[0].retry_after is not None:
            await _call(pool, "x")
        stats = pool.statistics()
        assert (stats.penalised, stats.ready) == (1, 4), "weighed down, not withdrawn"
        (penalised,) = [e for e in pool.endpoint_statistics() if e.penalised_until]
        assert penalised.address == 0
        assert penalised.weight == pytest.approx(0.01)
        picks: Counter[Any] = Counter()
        for i in range(400):
            address, _ = await _call(pool, i)
            picks[address] += 1
        assert picks[0] <= 8, picks  # a fair share would be 100
        await trio.sleep(5)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().penalised == 0
        picks.clear()
        for i in range(400):
            address, _ = await _call(pool, i)
            picks[address] += 1
        assert picks[0] >= 50, picks


@pools
async def test_the_only_endpoint_penalised_takes_every_call(
    make_pool: PoolFactory, autojump_clock: trio.testing.MockClock
) -> None:
    pool, made = throttled_pool(make_pool, outlier=OutlierDetection())
    async with driven(pool):
        pool.add_endpoint("a", None)
        await trio.testing.wait_all_tasks_blocked()
        made["a"].retry_after = 5.0
        await _call(pool, "429")
        started = trio.current_time()
        for i in range(10):
            assert await _call(pool, i) == ("a", i)
        assert trio.current_time() == started, "no call waited"
        stats = pool.statistics()
        assert (stats.penalised, stats.panic) == (1, True), "nothing else is eligible"
        await trio.sleep(5)
        await trio.testing.wait_all_tasks_blocked()
        stats = pool.statistics()
        assert (stats.penalised, stats.panic) == (0, False)


# -- weights that reach the limits --------------------------------------------------------


@pools
@pytest.mark.parametrize(
    "slow_start",
    [
        SlowStart(window=30.0, min_weight=0.0),
        SlowStart(window=1e-300, min_weight=0.0),
        SlowStart(window=30.0, aggression=1e-300, min_weight=0.0),
        SlowStart(window=1e300, aggression=1e300, min_weight=1e-300),
    ],
    ids=["min-weight-0", "tiny-window", "tiny-aggression", "huge"],
)
async def test_no_slow_start_weight_breaks_a_pick(
    make_pool: PoolFactory, slow_start: SlowStart, autojump_clock: trio.testing.MockClock
) -> None:
    pool, made = throttled_pool(make_pool, slow_start=slow_start)
    async with driven(pool):
        pool.add_endpoint("warm", None)
        await trio.testing.wait_all_tasks_blocked()
        made["warm"].retry_after = 10.0
        await _call(pool, "429")  # penalised: the weights multiply
        pool.add_endpoint("new", None)  # joins now: age 0 under a virtual clock
        await trio.testing.wait_all_tasks_blocked()
        for i in range(20):
            await _call(pool, i)
        assert {e.address for e in pool.endpoint_statistics()} == {"warm", "new"}
        assert all(e.weight > 0 for e in pool.endpoint_statistics())
