"""``wait_for_ready=False``: a call does not wait for a pool whose endpoints are all failing.

The endpoints here stand for connections to servers that a test takes down and brings
back: an endpoint made while its server is down fails its readiness (a connection
refused), and one whose call finds the server gone fails that call and then its
readiness, as a transport's endpoint does. Times are Trio's virtual ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from tests.support.resilience import WithoutExtensions
from trio_pool import (
    Backoff,
    DispatchTimeoutError,
    FailFastError,
    LeastLoadedPool,
    P2CPool,
    PoolQueue,
    RandomPool,
    Reset,
    RetryPolicy,
    RoundRobinPool,
    UnavailableError,
    Update,
    open_pool_queue,
)

POOLS = [P2CPool, LeastLoadedPool, RoundRobinPool, RandomPool]


@attrs.define(eq=False)
class Servers:
    """The servers behind the addresses, and the endpoint factory that connects to them.

    ``nowait`` endpoints offer ``ready_nowait()``; plain ones only ``ready()``.
    """

    nowait: bool = True
    down: set[Hashable] = attrs.field(factory=set)
    connect_time: float = 0.0
    """Seconds an endpoint takes to connect (its readiness), up or down."""
    made: list[str] = attrs.field(factory=list)
    """Each endpoint made, by address."""
    served: list[tuple[Hashable, Any]] = attrs.field(factory=list)

    def __call__(self, address: Hashable, target: Any) -> Connection:
        self.made.append(str(address))
        kind = NowaitConnection if self.nowait else Connection
        return kind(address, self)


@attrs.define(eq=False)
class Connection:
    address: Hashable
    servers: Servers
    connected: bool = False
    broken: Exception | None = None

    async def ready(self) -> None:
        if self.broken is not None:
            await trio.lowlevel.checkpoint()
            raise self.broken
        if not self.connected:
            await trio.sleep(self.servers.connect_time)
            if self.address in self.servers.down:
                raise ConnectionRefusedError(f"{self.address}: connection refused")
            self.connected = True
        await trio.lowlevel.checkpoint()

    async def call(self, request: Any) -> Any:
        await trio.lowlevel.checkpoint()
        if self.address in self.servers.down:
            self.broken = ConnectionResetError(f"{self.address}: connection reset")
            raise ConnectionError(f"{self.address}: cannot send {request!r}")
        self.servers.served.append((self.address, request))
        return (self.address, request)


@attrs.define(eq=False)
class NowaitConnection(Connection):
    def ready_nowait(self) -> None:
        if self.broken is not None:
            raise self.broken
        if not self.connected:
            raise trio.WouldBlock


@asynccontextmanager
async def open_queue(
    servers: Servers,
    addresses: tuple[Hashable, ...] = ("a", "b"),
    *,
    pool: Any = P2CPool,
    plain_pool: bool = False,
    **options: Any,
) -> AsyncIterator[PoolQueue[Any, Any]]:
    options.setdefault("wait_for_ready", False)
    balanced = pool(servers, rng=random.Random(0), backoff=Backoff(initial=1.0, jitter=0.0))
    send, discovery = trio.open_memory_channel[Update](math.inf)
    send.send_nowait(Reset([(address, None) for address in addresses]))
    wrapped = WithoutExtensions(balanced) if plain_pool else balanced
    async with open_pool_queue(wrapped, discovery, **options) as queue:
        await trio.testing.wait_all_tasks_blocked()
        yield queue


@pytest.fixture(params=[True, False], ids=["nowait", "plain"])
def servers(request: pytest.FixtureRequest) -> Servers:
    return Servers(nowait=request.param)


@pytest.mark.parametrize("pool", POOLS)
async def test_a_call_to_a_pool_whose_endpoints_all_fail_fails_at_once(
    autojump_clock: trio.testing.MockClock, servers: Servers, pool: Any
) -> None:
    servers.down = {"a", "b"}
    async with open_queue(servers, pool=pool) as queue:
        started = trio.current_time()
        with pytest.raises(UnavailableError, match="every endpoint failed") as failed:
            await queue.call("x")
        assert trio.current_time() == started, "no failfast wait: every endpoint is down"
        assert isinstance(failed.value.__cause__, ConnectionRefusedError), failed.value.__cause__
        assert "2 endpoints" in str(failed.value), str(failed.value)
        assert not queue.is_failfast, "failing endpoints do not shut the gate"


async def test_a_call_that_finds_the_pool_failing_gets_a_try_of_its_own(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.down = {"a", "b"}
    async with open_queue(servers) as queue:
        assert sorted(servers.made) == ["a", "b"], "both failed their first try"
        await trio.sleep(0.5)  # within the 1 s backoff
        with pytest.raises(UnavailableError):
            await queue.call("x")
        assert sorted(servers.made) == ["a", "a", "b", "b"], (
            "a call to a failing pool has each failed endpoint tried again, backoff or not"
        )
        servers.down = {"b"}
        started = trio.current_time()
        assert await queue.call("z") == ("a", "z"), "a server that is back takes the next call"
        assert trio.current_time() == started, "at once, not after the backoff"


async def test_a_try_waits_for_the_connection_and_fails_with_it(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.down = {"a", "b"}
    servers.connect_time = 0.25
    async with open_queue(servers) as queue:
        with pytest.raises(UnavailableError):
            await queue.call("x")
        started = trio.current_time()
        with pytest.raises(UnavailableError):
            await queue.call("y")
        assert trio.current_time() == started + 0.25, "the length of one try to connect"
        servers.down.clear()
        started = trio.current_time()
        assert await queue.call("z") in (("a", "z"), ("b", "z"))
        assert trio.current_time() == started + 0.25


async def test_calls_that_wait_through_a_try_share_its_outcome(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.down = {"a", "b"}
    servers.connect_time = 1.0
    async with open_queue(servers) as queue:
        with pytest.raises(UnavailableError):
            await queue.call("first")
        made = len(servers.made)
        failed: list[float] = []

        async def call(request: str, delay: float) -> None:
            await trio.sleep(delay)
            with pytest.raises(UnavailableError):
                await queue.call(request)
            failed.append(trio.current_time())

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(5):
                nursery.start_soon(call, f"r{i}", i * 0.1)
        assert failed == [started + 1.0] * 5, "all fail with the one try, when it fails"
        assert len(servers.made) == made + 2, "one try of each endpoint, not one per call"


async def test_a_retry_to_a_failing_pool_fails_at_once_with_the_real_outcome(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    retry = RetryPolicy(backoff=Backoff(initial=0, maximum=0))
    async with open_queue(servers, ("a",), retry=retry) as queue:
        assert await queue.call("x") == ("a", "x")
        servers.down = {"a"}
        started = trio.current_time()
        with pytest.raises(ConnectionError, match="cannot send 'y'"):
            await queue.call("y")
        assert trio.current_time() == started
        assert servers.made == ["a"], "a retry does not try the failed endpoint again"


async def test_the_failfast_timeout_still_bounds_a_pool_with_no_endpoint(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    async with open_queue(servers, ()) as queue:
        started = trio.current_time()
        with pytest.raises(FailFastError):
            await queue.call("x")
        assert trio.current_time() == started + 3.0


async def test_a_first_try_that_hangs_is_bounded_by_the_failfast_timeout(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.connect_time = 60.0
    async with open_queue(servers) as queue:
        started = trio.current_time()
        with pytest.raises(FailFastError):
            await queue.call("x")
        assert trio.current_time() == started + 3.0, "endpoints on their first try: failfast"


async def test_a_try_that_hangs_ends_with_the_call_s_dispatch_timeout(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.down = {"a", "b"}
    async with open_queue(servers, failfast_timeout=30.0) as queue:
        with pytest.raises(UnavailableError):
            await queue.call("x")
        servers.connect_time = 60.0
        started = trio.current_time()
        with pytest.raises(DispatchTimeoutError) as waited:
            await queue.call("y", dispatch_timeout=0.5)
        assert trio.current_time() == started + 0.5
        assert waited.value.failing, "it waited for a try of failing endpoints"
        with pytest.raises(UnavailableError):
            await queue.call("z")
        assert trio.current_time() == started + 30.0, (
            "the call behind shares the try, which the failfast timeout bounds: "
            "unavailable, not failfast"
        )
        assert not queue.is_failfast


async def test_a_pool_without_the_extension_is_waited_for(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.down = {"a", "b"}
    async with open_queue(servers, plain_pool=True) as queue:
        started = trio.current_time()
        with pytest.raises(FailFastError):
            await queue.call("x")
        assert trio.current_time() == started + 3.0


async def test_by_default_a_call_waits_for_a_failing_pool(
    autojump_clock: trio.testing.MockClock, servers: Servers
) -> None:
    servers.down = {"a", "b"}
    async with open_queue(servers, wait_for_ready=True) as queue:
        started = trio.current_time()
        with pytest.raises(FailFastError):
            await queue.call("x")
        assert trio.current_time() == started + 3.0


async def test_wait_for_ready_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="wait_for_ready must be a bool"):
        async with open_queue(Servers(), wait_for_ready=1):
            pass
