"""The worker's tasks against discovery objects and pools that misbehave.

Nothing a discovery object or an endpoint does may crash the block around the queue:
discovery's failures close the queue with the failure as the cause, and an endpoint's
(or a pool's ``call``) error fails that one request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import PoolClosedError, Reset, Update, open_pool_queue
from trio_pool.testing import MockPool


class AiterRaises:
    def __aiter__(self) -> AsyncIterator[Update]:
        raise OSError("cannot start watching")


class AiterReturnsNonIterator:
    def __aiter__(self) -> Any:
        return 42


class AnextReturnsNonAwaitable:
    def __aiter__(self) -> AnextReturnsNonAwaitable:
        return self

    def __anext__(self) -> Any:
        return "not awaitable"


class AnextRaisesSynchronously:
    def __aiter__(self) -> AnextRaisesSynchronously:
        return self

    def __anext__(self) -> Awaitable[Update]:
        raise ConnectionResetError("watch broke")


@pytest.mark.parametrize(
    ("discovery", "cause", "match"),
    [
        (AiterRaises(), OSError, "cannot start watching"),
        (AiterReturnsNonIterator(), TypeError, "int"),
        (AnextReturnsNonAwaitable(), TypeError, "await"),
        (AnextRaisesSynchronously(), ConnectionResetError, "watch broke"),
    ],
    ids=["aiter-raises", "aiter-non-iterator", "anext-non-awaitable", "anext-raises"],
)
async def test_misbehaving_discovery_closes_the_queue_not_the_block(
    discovery: Any, cause: type[BaseException], match: str
) -> None:
    pool = MockPool()
    async with open_pool_queue(pool, discovery) as queue:
        closed = await queue.wait_closed()
        assert isinstance(closed.__cause__, cause), closed.__cause__
        assert match in str(closed.__cause__)
        with pytest.raises(PoolClosedError, match="discovery failed"):
            await queue.call("x")
    assert pool.handle.closed, "the pool is closed when the block is left"


class CloseRaises:
    """A discovery whose iterator (not an async generator) raises, or hangs, when closed."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang
        self.closed = False

    def __aiter__(self) -> Watch:
        return Watch(self)


class Watch:
    def __init__(self, discovery: CloseRaises) -> None:
        self.discovery = discovery

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Update:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self.discovery.closed = True
        if self.discovery.hang:
            await trio.sleep_forever()
        raise OSError("close failed")


@pytest.mark.parametrize("hang", [False, True], ids=["raises", "hangs"])
async def test_a_discovery_close_that_fails_or_hangs_does_not_hold_the_block(
    hang: bool, autojump_clock: trio.testing.MockClock
) -> None:
    discovery = CloseRaises(hang)
    start = trio.current_time()
    async with open_pool_queue(MockPool(), discovery) as queue:
        await trio.testing.wait_all_tasks_blocked()
        assert queue.closed_error is None
    assert discovery.closed, "the iterator that __aiter__ made is closed when the block is left"
    assert trio.current_time() - start <= 1.0, "closing discovery is bounded by its grace"


async def test_an_async_generator_that_raises_when_closed_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def discovery() -> AsyncIterator[Update]:
        try:
            yield Reset([("a", 1)])
            await trio.sleep_forever()
        finally:
            raise OSError("cleanup failed")

    async with open_pool_queue(MockPool(), discovery()) as queue:
        await trio.testing.wait_all_tasks_blocked()
    assert queue.closed_error is not None
    assert queue.closed_error.__cause__ is None, "the block was left: nothing failed before"
    assert "OSError('cleanup failed'), after the queue closed" in caplog.text


class CallRaises(MockPool):
    """A pool whose ``call`` raises synchronously, as a pool over an endpoint might."""

    def call(self, request: Any) -> Any:
        if request == "bad":
            raise ValueError("the endpoint rejected the request")
        return super().call(request)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "worker"])
async def test_a_call_that_raises_synchronously_fails_that_request_only(
    fast_path: bool,
) -> None:
    pool = CallRaises(fast_path=fast_path)
    pool.handle.set_ready(True)
    updates, discovery = trio.open_memory_channel[Update](1)
    updates.send_nowait(Reset([("a", 1)]))
    async with open_pool_queue(pool, discovery) as queue:
        with pytest.raises(ValueError, match="rejected"):
            await queue.call("bad")
        assert queue.closed_error is None, "an endpoint's error never closes the queue"
        assert await queue.call("good") == ("response", "good")
        assert pool.handle.in_flight == 0


async def test_a_memory_channel_stays_its_owners_to_close() -> None:
    updates, discovery = trio.open_memory_channel[Update](1)
    async with open_pool_queue(MockPool(), discovery):
        await trio.testing.wait_all_tasks_blocked()
    updates.send_nowait(Reset([]))  # the receive end is still open: no BrokenResourceError
    assert discovery.receive_nowait() == Reset([])
