"""Dispatch: the select-and-bind step, a request's own dispatch timeout, and what the
queue's errors say about the pool."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import (
    Backoff,
    DispatchTimeoutError,
    FailFastError,
    P2CPool,
    Reset,
    Update,
    open_pool_queue,
)
from trio_pool.testing import MockPool

from ..support.fake_endpoints import Factory


async def test_a_dispatch_timeout_bounds_the_wait_of_that_request_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pool = MockPool()
    _updates, discovery = trio.open_memory_channel[Update](math.inf)
    async with open_pool_queue(pool, discovery, failfast_timeout=10) as queue:
        start = trio.current_time()
        with pytest.raises(DispatchTimeoutError, match=r"within the dispatch timeout of 0\.5 s"):
            await queue.call("impatient", dispatch_timeout=0.5)
        assert trio.current_time() - start == 0.5
        assert not queue.is_failfast, "one request giving up does not shut the gate"

        async def patient() -> None:
            assert await queue.call("patient") == ("response", "patient")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(patient)
            await trio.sleep(1)
            pool.handle.set_ready(True)
        assert pool.handle.requests == ["patient"], "the request that gave up never ran"
        assert queue.statistics().pending == 0


async def test_a_ready_pool_answers_within_any_dispatch_timeout() -> None:
    pool = MockPool()
    pool.handle.set_ready(True)
    _updates, discovery = trio.open_memory_channel[Update](math.inf)
    async with open_pool_queue(pool, discovery) as queue:
        assert await queue.call("x", dispatch_timeout=0.001) == ("response", "x")


async def test_a_dispatch_timeout_is_checked() -> None:
    _updates, discovery = trio.open_memory_channel[Update](math.inf)
    async with open_pool_queue(MockPool(), discovery) as queue:
        with pytest.raises(ValueError, match="dispatch_timeout must be > 0"):
            await queue.call("x", dispatch_timeout=0)
        with pytest.raises(TypeError, match="dispatch_timeout must be a number"):
            await queue.call("x", dispatch_timeout="soon")  # type: ignore[arg-type]


async def test_errors_name_the_pool_state_and_its_last_endpoint_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory({"nowait": False})

    def refusing(address: Any, target: Any) -> Any:
        endpoint = factory(address, target)
        endpoint.fail_ready(ConnectionRefusedError(111, "Connection refused"))
        return endpoint

    pool = P2CPool(refusing, backoff=Backoff(initial=10.0, jitter=0.0))
    _updates, discovery = trio.open_memory_channel[Update](math.inf)
    _updates.send_nowait(Reset([("a", None), ("b", None)]))
    async with open_pool_queue(pool, discovery, failfast_timeout=2.0) as queue:
        with pytest.raises(DispatchTimeoutError) as waited:
            await queue.call("x", dispatch_timeout=1.0)
        assert str(waited.value) == (
            "no endpoint was ready within the dispatch timeout of 1 s: 2 endpoints "
            "(0 ready, 0 pending, 2 backing off); last endpoint error: "
            "ConnectionRefusedError(111, 'Connection refused')"
        )
        assert isinstance(waited.value.__cause__, ConnectionRefusedError)
        assert waited.value.dispatch_timeout == 1.0
        assert isinstance(waited.value, TimeoutError)
        with pytest.raises(FailFastError) as failed:
            await queue.call("y")
        assert "2 endpoints (0 ready, 0 pending, 2 backing off)" in str(failed.value)
        assert isinstance(failed.value.__cause__, ConnectionRefusedError)
        assert failed.value.failfast_timeout == 2.0


async def test_a_pool_without_statistics_gets_the_plain_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    _updates, discovery = trio.open_memory_channel[Update](math.inf)
    async with open_pool_queue(MockPool(), discovery, failfast_timeout=1.0) as queue:
        with pytest.raises(FailFastError) as failed:
            await queue.call("y")
    assert str(failed.value) == "no endpoint became ready within the failfast timeout of 1 s"
    assert failed.value.__cause__ is None
