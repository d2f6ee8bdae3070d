"""The pool queue's behaviour, after the seed's queue tests, on Trio's virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import (
    Add,
    FailFastError,
    PoolClosedError,
    PoolQueue,
    Remove,
    Reset,
    Update,
    open_pool_queue,
)
from trio_pool.testing import MockPool

FAILFAST = 3.0


@asynccontextmanager
async def open_queue(
    pool: MockPool, **options: Any
) -> AsyncIterator[tuple[PoolQueue[Any, Any], trio.MemorySendChannel[Update]]]:
    options.setdefault("failfast_timeout", FAILFAST)
    updates, discovery = trio.open_memory_channel[Update](0)
    async with updates, open_pool_queue(pool, discovery, **options) as queue:
        yield queue, updates


async def test_processes_requests() -> None:
    pool = MockPool()
    pool.handle.set_ready(True)
    async with open_queue(pool) as (queue, _):
        assert await queue.call("a") == ("response", "a")
        assert await queue.call("b") == ("response", "b")
    assert pool.handle.requests == ["a", "b"]
    assert pool.handle.in_flight == 0


@pytest.mark.parametrize("fast_path", [True, False])
async def test_many_tasks_share_a_queue(fast_path: bool) -> None:
    pool = MockPool(fast_path=fast_path)
    pool.handle.set_ready(True)
    results: dict[int, Any] = {}

    async def caller(i: int) -> None:
        results[i] = await queue.call(i)

    async with open_queue(pool, capacity=3) as (queue, _), trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(caller, i)
    assert results == {i: ("response", i) for i in range(20)}
    assert sorted(pool.handle.requests) == list(range(20))


async def test_requests_are_dispatched_in_fifo_order() -> None:
    pool = MockPool()
    async with open_queue(pool, capacity=10) as (queue, _), trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(queue.call, i)
            await trio.testing.wait_all_tasks_blocked()
        pool.handle.set_ready(True)
    assert pool.handle.requests == [0, 1, 2, 3, 4]


async def test_capacity_limits_the_queue(autojump_clock: trio.testing.MockClock) -> None:
    pool = MockPool()
    async with open_queue(pool, capacity=2) as (queue, _), trio.open_nursery() as nursery:
        for i in range(4):
            nursery.start_soon(queue.call, i)
            await trio.testing.wait_all_tasks_blocked()
        stats = queue.statistics()
        # One request is held by the worker, two fill the buffer, the last caller waits.
        assert (stats.pending, stats.buffered, stats.tasks_waiting_send) == (4, 2, 1)
        pool.handle.set_ready(True)
    assert pool.handle.requests == [0, 1, 2, 3]
    assert queue.statistics().pending == 0


async def test_updates_are_applied_while_a_request_is_pending() -> None:
    pool = MockPool()
    async with open_queue(pool) as (queue, updates), trio.open_nursery() as nursery:
        nursery.start_soon(queue.call, "waiting")
        await trio.testing.wait_all_tasks_blocked()
        await updates.send(Reset([("a", 1), ("b", 2)]))
        await updates.send(Remove(["a"]))
        await trio.testing.wait_all_tasks_blocked()
        assert pool.handle.endpoints == {"b": 2}
        assert pool.handle.requests == [], "the request is still waiting for the pool"
        pool.handle.set_ready(True)
    assert pool.handle.requests == ["waiting"]


async def test_updates_are_applied_while_idle() -> None:
    pool = MockPool()
    async with open_queue(pool) as (_, updates):
        await updates.send(Reset([("a", 1)]))
        await updates.send(Add([("b", 2), ("a", 3)]))
        await updates.send(Remove(["b"]))
        await trio.testing.wait_all_tasks_blocked()
        assert pool.handle.changes == [
            ("reset", (("a", 1),)),
            ("add", "b", 2),
            ("add", "a", 3),
            ("remove", "b"),
        ]
    assert pool.handle.requests == []


async def test_discovery_ending_is_normal() -> None:
    pool = MockPool()
    pool.handle.set_ready(True)
    async with open_queue(pool) as (queue, updates):
        await updates.send(Reset([("a", 1)]))
        await updates.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert queue.closed_error is None
        assert await queue.call("after") == ("response", "after")
        assert pool.handle.endpoints == {"a": 1}, "the pool keeps its last endpoints"


async def test_discovery_error_closes_the_queue() -> None:
    pool = MockPool()
    failure = OSError("registry unreachable")

    async def discovery() -> AsyncIterator[Update]:
        yield Reset([("a", 1)])
        raise failure

    async with open_pool_queue(pool, discovery()) as queue:
        closed = await queue.wait_closed()
        assert closed.__cause__ is failure
        with pytest.raises(PoolClosedError, match="discovery failed") as info:
            await queue.call("x")
        assert info.value.__cause__ is failure
        assert queue.closed_error is not None
        assert queue.closed_error.__cause__ is failure
    assert pool.handle.endpoints == {"a": 1}
    assert pool.handle.requests == []


async def test_discovery_yielding_a_non_update_closes_the_queue() -> None:
    pool = MockPool()

    async def discovery() -> AsyncIterator[Any]:
        yield [("a", 1)]

    async with open_pool_queue(pool, discovery()) as queue:
        closed = await queue.wait_closed()
    assert isinstance(closed.__cause__, TypeError)
    assert "expected Reset, Add, Remove or DoesNotExist" in str(closed.__cause__)
    assert pool.handle.changes == [], "a malformed update never reaches the pool"


async def test_pool_error_while_a_request_is_pending() -> None:
    pool = MockPool()
    failure = RuntimeError("pool broke")
    outcomes: list[BaseException] = []

    async def caller() -> None:
        with pytest.raises(PoolClosedError) as info:
            await queue.call("pending")
        outcomes.append(info.value)

    async with open_queue(pool) as (queue, _), trio.open_nursery() as nursery:
        nursery.start_soon(caller)
        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        pool.handle.fail_drive(failure)
    assert [o.__cause__ for o in outcomes] == [failure, failure]
    assert pool.handle.requests == []


async def test_pool_error_after_ready() -> None:
    pool = MockPool()
    pool.handle.set_ready(True)
    failure = RuntimeError("pool broke")
    async with open_queue(pool) as (queue, _):
        assert await queue.call("ok") == ("response", "ok")
        pool.handle.fail_drive(failure)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(PoolClosedError, match=r"pool\.drive\(\) failed") as info:
            await queue.call("late")
        assert info.value.__cause__ is failure
    assert pool.handle.requests == ["ok"]


async def test_pool_ready_error_closes_the_queue() -> None:
    pool = MockPool(fast_path=False)
    failure = RuntimeError("ready broke")
    async with open_queue(pool) as (queue, _):
        pool.handle.fail_ready(failure)
        with pytest.raises(PoolClosedError, match=r"pool\.ready\(\) failed") as info:
            await queue.call("x")
        assert info.value.__cause__ is failure


async def test_drive_returning_closes_the_queue() -> None:
    class ReturningPool(MockPool):
        async def drive(self) -> Any:
            return None

    async with open_pool_queue(ReturningPool(), trio.open_memory_channel[Update](0)[1]) as queue:
        closed = await queue.wait_closed()
    assert isinstance(closed.__cause__, RuntimeError)
    assert "must run until cancelled" in str(closed.__cause__)


async def test_leaving_the_block_terminates(autojump_clock: trio.testing.MockClock) -> None:
    pool = MockPool()
    outcomes: list[BaseException] = []

    async def caller(i: int) -> None:
        with pytest.raises(PoolClosedError, match="block was left") as info:
            await queue.call(i)
        outcomes.append(info.value)

    async with trio.open_nursery() as callers, open_queue(pool, capacity=1) as (queue, _):
        for i in range(3):
            callers.start_soon(caller, i)
        await trio.testing.wait_all_tasks_blocked()
    assert len(outcomes) == 3
    assert all(o.__cause__ is None for o in outcomes)
    assert pool.handle.closed, "the pool's endpoints are closed when the block is left"
    assert queue.statistics().pending == 0
    with pytest.raises(PoolClosedError):
        await queue.call("after")


async def test_failfast(autojump_clock: trio.testing.MockClock) -> None:
    pool = MockPool()
    failed_at: list[float] = []

    async def caller(i: int) -> None:
        with pytest.raises(FailFastError, match="failfast timeout of 3 s"):
            await queue.call(i)
        failed_at.append(trio.current_time())

    async with open_queue(pool, capacity=5) as (queue, _):
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(caller, i)
        assert failed_at == [start + FAILFAST] * 4, "all fail together at the deadline"
        assert queue.is_failfast
        with pytest.raises(FailFastError):
            await queue.call("refused")
        assert trio.current_time() == start + FAILFAST, "a shut gate refuses at once"

        await trio.sleep(10)
        pool.handle.set_ready(True)
        await queue.wait_available()
        assert not queue.is_failfast
        assert await queue.call("recovered") == ("response", "recovered")
    assert pool.handle.requests == ["recovered"]


async def test_failfast_interrupted_by_readiness(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pool = MockPool()
    async with open_queue(pool) as (queue, _), trio.open_nursery() as nursery:

        async def make_ready() -> None:
            await trio.sleep(FAILFAST - 0.5)
            pool.handle.set_ready(True)

        nursery.start_soon(make_ready)
        start = trio.current_time()
        assert await queue.call("x") == ("response", "x")
        assert trio.current_time() == start + FAILFAST - 0.5
        assert not queue.is_failfast


async def test_caller_cancelled_while_queued_is_never_dispatched(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pool = MockPool()
    async with open_queue(pool) as (queue, _):
        with trio.move_on_after(1):
            await queue.call("gone")
        pool.handle.set_ready(True)
        assert await queue.call("kept") == ("response", "kept")
    assert pool.handle.requests == ["kept"]
    assert pool.handle.in_flight == 0


async def test_bound_call_of_a_departed_caller_is_closed() -> None:
    scope = trio.CancelScope()

    class CancellingPool(MockPool):
        def call(self, request: Any) -> Any:
            bound = super().call(request)
            # The caller is cancelled in the very step in which its reply arrives, so it
            # never gets to await the bound call.
            scope.cancel()
            return bound

    pool = CancellingPool(fast_path=False)
    pool.handle.set_ready(True)
    async with open_queue(pool) as (queue, _):
        with scope:
            await queue.call("departed")
        assert scope.cancelled_caught
        assert pool.handle.requests == ["departed"]
        assert pool.handle.in_flight == 0, "the unawaited bound call was closed"


async def test_caller_cancelled_during_its_call_ends_accounting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(request: Any) -> Any:
        await trio.sleep(10)
        return request

    for fast_path in (True, False):
        pool = MockPool(respond=slow, fast_path=fast_path)
        pool.handle.set_ready(True)
        async with open_queue(pool) as (queue, _):
            with trio.move_on_after(1):
                await queue.call("slow")
            assert pool.handle.in_flight == 0
            assert pool.handle.requests == ["slow"]


async def test_endpoint_errors_reach_the_caller_unwrapped() -> None:
    async def failing(request: Any) -> Any:
        await trio.lowlevel.checkpoint()
        raise ConnectionResetError(request)

    pool = MockPool(respond=failing)
    pool.handle.set_ready(True)
    async with open_queue(pool) as (queue, _):
        with pytest.raises(ConnectionResetError, match="x"):
            await queue.call("x")
        assert queue.closed_error is None, "an endpoint's error is not the queue's"
    assert pool.handle.in_flight == 0


async def test_an_error_in_the_block_propagates_unwrapped() -> None:
    pool = MockPool()
    with pytest.raises(KeyError, match="body"):
        async with open_queue(pool):
            raise KeyError("body")
    assert pool.handle.closed


async def test_arguments_are_checked() -> None:
    pool = MockPool()
    discovery = trio.open_memory_channel[Update](0)[1]
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        async with open_pool_queue(pool, discovery, capacity=-1):
            pass
    with pytest.raises(ValueError, match="failfast_timeout must be > 0"):
        async with open_pool_queue(pool, discovery, failfast_timeout=0):
            pass
    with pytest.raises(TypeError, match="discovery must be an async iterable"):
        async with open_pool_queue(pool, [Reset([])]):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="metrics must come from"):
        async with open_pool_queue(pool, discovery, metrics=object()):  # type: ignore[arg-type]
            pass


async def test_groups_the_body_raises_itself_propagate_as_raised() -> None:
    pool = MockPool()
    with pytest.raises(ExceptionGroup) as caught:
        async with open_queue(pool):
            raise ExceptionGroup("mine", [ValueError("x")])
    assert caught.value.message == "mine", "only the nursery's own wrapper comes off"


async def test_a_discovery_cleanup_error_does_not_crash_the_block() -> None:
    pool = MockPool()

    async def discovery() -> AsyncIterator[Any]:
        try:
            yield "not an update"
        finally:
            raise OSError("cleanup failed")

    async with open_pool_queue(pool, discovery()) as queue:
        closed = await queue.wait_closed()
        await trio.testing.wait_all_tasks_blocked()
    assert isinstance(closed.__cause__, TypeError)
