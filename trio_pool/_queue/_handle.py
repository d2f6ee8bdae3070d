"""`PoolQueue`: the handle that callers share to send requests through a pool."""

from __future__ import annotations

from collections.abc import Awaitable, Hashable
from collections.abc import Set as AbstractSet
from typing import Any, Generic, TypeVar

import attrs
import trio

from .._errors import DispatchTimeoutError, PoolClosedError
from .._resilience import Hedging, Resilience, RetryPolicy
from .._validate import check_seconds
from ._backlog import Backlog
from ._dispatch import Dispatch, describe_pool
from ._gate import Gate, GateState
from ._message import Message, Reply
from ._metrics import QueueMetrics

__all__ = ["PoolQueue", "PoolQueueStatistics"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")


@attrs.frozen
class PoolQueueStatistics:
    """A snapshot of a queue, from `PoolQueue.statistics`."""

    pending: int
    """Requests accepted and not yet dispatched or failed, the worker's current one included."""
    buffered: int
    """Requests in the queue's buffer, waiting for the worker."""
    tasks_waiting_send: int
    """Callers waiting for room in the queue (backpressure)."""
    capacity: int
    """How many requests the queue buffers before callers wait for room."""
    is_failfast: bool
    """Whether the failfast gate is shut."""
    closed: bool
    """Whether the queue is closed for good."""
    retry_budget: float | None = None
    """Retries the retry budget allows now; ``None`` without a `RetryPolicy`."""
    hedge_budget: float | None = None
    """Hedges the hedging budget allows now; ``None`` without `Hedging`."""
    hedge_delay: float | None = None
    """Seconds without an answer before a call is hedged now; ``None`` without `Hedging`,
    or while its percentile is not known yet."""


@attrs.define(eq=False)
class PoolQueue(Generic[Req, Rsp]):
    """A bounded queue of requests in front of a pool; made by `open_pool_queue`.

    Share it freely between tasks: every call is answered in FIFO order with exactly one
    outcome: the endpoint's response or error, `FailFastError`, `UnavailableError`,
    `DispatchTimeoutError`, `PoolClosedError`, or the caller's own cancellation.
    """

    _send: trio.MemorySendChannel[Message[Req, Rsp]]
    _gate: Gate
    _backlog: Backlog
    _dispatch: Dispatch[Req, Rsp]
    _metrics: QueueMetrics
    _capacity: int
    _retry: RetryPolicy | None = None
    _hedging: Hedging | None = None
    _fast_path: bool = attrs.field(init=False)
    _resilience: Resilience[Req, Rsp] | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._fast_path = self._dispatch.can_select_nowait
        self._resilience = None
        if self._retry is not None or self._hedging is not None:
            self._resilience = Resilience.open(
                self._bind,
                self._retry,
                self._hedging,
                self._metrics,
                trio.current_time(),
                self._dispatch.elsewhere,
                self._gate.wait_closed,
            )

    async def call(self, request: Req, *, dispatch_timeout: float | None = None) -> Rsp:
        """Send ``request`` to an endpoint the pool picks and return its response.

        Waits while the queue is full (backpressure). The endpoint's call runs in this
        task, so cancelling the caller cancels the request, and the endpoint's own errors
        are raised here unwrapped. ``dispatch_timeout`` bounds this request's wait for
        an endpoint (room in the queue included), not the call itself.

        With a `RetryPolicy` or `Hedging` (given to `open_pool_queue`), the call may send
        the request more than once, each attempt through the queue, all of them in this
        task or a nursery of its own; ``dispatch_timeout`` then bounds the waits of all
        its attempts together, the delays before retries included (a retry that could
        only start after it is not sent). The call still has one outcome: the answer
        that won, or the last attempt's response or error, unwrapped.

        Raises:
            FailFastError: the pool had no ready endpoint for ``failfast_timeout`` while this
                request waited, or the gate was already shut.
            UnavailableError: every endpoint is failing, and the queue does not wait for
                a failing pool (``wait_for_ready=False``).
            DispatchTimeoutError: no endpoint took the request within ``dispatch_timeout``.
            PoolClosedError: the queue is closed; ``__cause__`` says why.
        """
        if self._resilience is not None:
            return await self._resilience.call(request, dispatch_timeout)
        gate = self._gate
        if not gate.is_open:
            await trio.lowlevel.checkpoint()
            raise gate.refusal()
        if self._fast_path and self._backlog.pending == 0:
            # Fast path: nobody is ahead of us and the pool has an endpoint ready now, so
            # going through the channel and the worker would only add two task switches.
            # FIFO order holds because nothing is pending; the gate is open, so failfast
            # has nothing to say.
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._dispatch.select_nowait():
                self._metrics.requests.inc()
                response = await self._dispatch.bind(request, 0.0)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return response
        if dispatch_timeout is None:
            bound, _ = await self._enqueue(request, None)
        else:
            bound, _ = await self._enqueue_within(request, dispatch_timeout, None)
        return await bound

    async def _bind(
        self,
        request: Req,
        dispatch_timeout: float | None,
        avoid: AbstractSet[Hashable],
        first: bool,
    ) -> tuple[Awaitable[Rsp], Any]:
        """One attempt of a call with retries or hedges: select and bind ``request``,
        through the fast path or the worker, preferring endpoints not in ``avoid``.
        ``first`` is false for a retry or a hedge.

        Returns the bound call and its endpoint's address (``None`` if the pool cannot
        tell); raises what `call` raises before a call is bound.
        """
        gate = self._gate
        if not gate.is_open:
            await trio.lowlevel.checkpoint()
            raise gate.refusal()
        if self._fast_path and self._backlog.pending == 0:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._dispatch.select_nowait():
                self._metrics.requests.inc()
                return self._dispatch.bind_avoiding(request, 0.0, avoid)
        if dispatch_timeout is None:
            return await self._enqueue(request, avoid, first)
        return await self._enqueue_within(request, dispatch_timeout, avoid, first)

    async def _enqueue_within(
        self,
        request: Req,
        dispatch_timeout: float,
        avoid: AbstractSet[Hashable] | None,
        first: bool = True,
    ) -> tuple[Awaitable[Rsp], Any]:
        timeout = check_seconds("dispatch_timeout", dispatch_timeout, infinite=True)
        with trio.move_on_after(timeout) as waited:
            bound = await self._enqueue(request, avoid, first)
        if waited.cancelled_caught:
            detail, cause = describe_pool(self._dispatch.pool)
            error = DispatchTimeoutError.timed_out(timeout, detail)
            error.failing = self._dispatch.failing() is not None
            raise error from cause
        return bound

    async def _enqueue(
        self, request: Req, avoid: AbstractSet[Hashable] | None, first: bool = True
    ) -> tuple[Awaitable[Rsp], Any]:
        """Queue ``request`` for the worker and wait for its bound call, and the address
        of its endpoint where the request asked for it (``avoid``) and the pool tells."""
        gate = self._gate
        reply: Reply[Rsp] = Reply()
        self._backlog.enqueue()
        self._metrics.requests.inc()
        try:
            message = Message(
                request, reply, trio.current_time(), avoid, first, self._dispatch.tries_failed
            )
            await self._send.send(message)
        except BaseException as exc:
            self._backlog.cancel_enqueue()
            if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
                # The queue closed while we waited for room; closed_failure() carries
                # the cause of the closing.
                raise gate.closed_failure()  # noqa: B904
            raise
        try:
            bound = await reply.receive()
        except BaseException:
            reply.abandon()
            raise
        return bound, reply.address

    @property
    def is_failfast(self) -> bool:
        """Whether the failfast gate is shut, so that new calls fail at once."""
        return self._gate.state is GateState.SHUT

    async def wait_available(self) -> None:
        """Wait until the gate is open (at once if it is).

        Raises:
            PoolClosedError: the queue is or becomes closed.
        """
        await self._gate.wait_available()

    @property
    def closed_error(self) -> PoolClosedError | None:
        """``None`` while the queue is open; then the `PoolClosedError` that calls raise."""
        if self._gate.state is GateState.CLOSED:
            return self._gate.closed_failure()
        return None

    async def wait_closed(self) -> PoolClosedError:
        """Wait until the queue closes, and return the `PoolClosedError` that calls raise.

        Its ``__cause__`` is the failure that closed the queue (discovery or the pool
        raising), or ``None`` if the ``open_pool_queue`` block was left.
        """
        return await self._gate.wait_closed()

    def statistics(self) -> PoolQueueStatistics:
        """A snapshot of the queue's state."""
        state = self._gate.state
        channel = self._send.statistics()
        resilience = self._resilience
        return PoolQueueStatistics(
            pending=self._backlog.pending,
            buffered=channel.current_buffer_used,
            tasks_waiting_send=channel.tasks_waiting_send,
            capacity=self._capacity,
            is_failfast=state is GateState.SHUT,
            closed=state is GateState.CLOSED,
            retry_budget=None if resilience is None else resilience.retry_balance(),
            hedge_budget=None if resilience is None else resilience.hedge_balance(),
            hedge_delay=None if resilience is None else resilience.hedge_delay(),
        )
