"""Leased calls: a pool counts a call until its endpoint releases the lease.

This is what lets the httpx transport count a response as in flight until its body is
closed; the pool side is tested here on the virtual clock, with scripted endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trio_pool import CallOutcome, Lease, LoadTracker, P2CPool

A = ("10.0.0.1", 80)


@attrs.define(eq=False)
class LeasingEndpoint:
    """Answers after ``latency``; releases its lease during the call if told to."""

    address: Any
    latency: float = 1.0
    fail: bool = False
    release_early: bool = False
    leases: list[Lease] = attrs.field(factory=list)
    closed: bool = False

    def ready_nowait(self) -> None:
        pass

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()

    async def call(self, request: Any) -> Any:
        raise AssertionError("a pool calls call_leased() when the endpoint has it")

    async def call_leased(self, request: Any, lease: Lease) -> Any:
        self.leases.append(lease)
        await trio.sleep(self.latency)
        if self.fail:
            raise ConnectionError("refused")
        if self.release_early:
            lease.release()
        return request

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


@attrs.define(eq=False)
class RecordingTracker:
    ends: list[tuple[float, float, CallOutcome]]
    in_flight: int = 0

    def cost(self, now: float) -> float:
        return float(self.in_flight)

    def start(self, now: float) -> None:
        self.in_flight += 1

    def end(self, started: float, now: float, outcome: CallOutcome) -> None:
        self.in_flight -= 1
        self.ends.append((started, now, outcome))


@attrs.define(eq=False)
class RecordingLoad:
    ends: list[tuple[float, float, CallOutcome]] = attrs.field(factory=list)

    def tracker(self, now: float) -> LoadTracker:
        return RecordingTracker(self.ends)


@attrs.define(eq=False)
class Endpoints:
    options: dict[str, Any] = attrs.field(factory=dict)
    made: list[LeasingEndpoint] = attrs.field(factory=list)

    def __call__(self, address: Any, target: Any) -> LeasingEndpoint:
        endpoint = LeasingEndpoint(address, **self.options)
        self.made.append(endpoint)
        return endpoint


@asynccontextmanager
async def driven(
    endpoints: Endpoints, load: RecordingLoad
) -> AsyncIterator[P2CPool[Any, Any, Any, Any]]:
    pool: P2CPool[Any, Any, Any, Any] = P2CPool(endpoints, load=load)
    pool.reset_pool([(A, None)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.drive)
        yield pool
        nursery.cancel_scope.cancel()


async def call(pool: P2CPool[Any, Any, Any, Any], request: Any) -> Any:
    pool.ready_nowait()
    return await pool.call(request)


async def test_a_leased_call_stays_in_flight_until_released(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoints, load = Endpoints(), RecordingLoad()
    async with driven(endpoints, load) as pool:
        assert await call(pool, "r") == "r"
        assert trio.current_time() == 1.0
        assert pool.statistics().in_flight == 1, "returned, but the lease holds it"
        assert load.ends == []

        await trio.sleep(5)
        endpoints.made[0].leases[0].release()
        assert pool.statistics().in_flight == 0
        assert load.ends == [(0.0, 1.0, CallOutcome.OK)], "measured to the return"

        endpoints.made[0].leases[0].release()
        assert len(load.ends) == 1, "a second release changes nothing"


async def test_a_lease_released_during_the_call_ends_it_at_its_return(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoints, load = Endpoints({"release_early": True}), RecordingLoad()
    async with driven(endpoints, load) as pool:
        await call(pool, "r")
        assert pool.statistics().in_flight == 0
        assert load.ends == [(0.0, 1.0, CallOutcome.OK)]


async def test_a_failed_or_cancelled_call_ends_at_once_whatever_the_lease(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoints, load = Endpoints({"fail": True}), RecordingLoad()
    async with driven(endpoints, load) as pool:
        with pytest.raises(ConnectionError):
            await call(pool, "r")
        assert pool.statistics().in_flight == 0
        endpoints.made[0].leases[0].release()

        endpoints.made[0].fail = False
        with trio.move_on_after(0.5):
            await call(pool, "r")
        assert pool.statistics().in_flight == 0

        pool.ready_nowait()
        pool.call("never awaited").close()
        assert pool.statistics().in_flight == 0
    assert [outcome for _, _, outcome in load.ends] == [
        CallOutcome.FAILED,
        CallOutcome.CANCELLED,
        CallOutcome.DROPPED,
    ]


async def test_an_evicted_endpoint_closes_once_its_leases_are_released(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoints, load = Endpoints(), RecordingLoad()
    async with driven(endpoints, load) as pool:
        await call(pool, "r")
        pool.remove_endpoint(A)
        await trio.testing.wait_all_tasks_blocked()
        (endpoint,) = endpoints.made
        assert not endpoint.closed, "a response it returned is still being read"
        endpoint.leases[0].release()
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint.closed
        assert pool.statistics().in_flight == 0


async def test_closing_the_pool_closes_leased_endpoints_and_a_late_release_is_harmless(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoints, load = Endpoints(), RecordingLoad()
    async with driven(endpoints, load) as pool:
        await call(pool, "r")
        await pool.aclose()
        (endpoint,) = endpoints.made
        assert endpoint.closed
        endpoint.leases[0].release()
        assert pool.statistics().in_flight == 0
        await trio.testing.wait_all_tasks_blocked()
        assert load.ends == [(0.0, 1.0, CallOutcome.OK)]


def test_a_lease_takes_one_callback_and_runs_it_once() -> None:
    lease = Lease()
    runs: list[str] = []
    lease.when_released(lambda: runs.append("released"))
    with pytest.raises(RuntimeError, match="one release callback"):
        lease.when_released(lambda: runs.append("again"))
    assert not lease.released
    lease.release()
    lease.release()
    assert lease.released
    assert runs == ["released"]

    released_first = Lease()
    released_first.release()
    released_first.when_released(lambda: runs.append("at once"))
    assert runs == ["released", "at once"]
