"""The queue's background tasks: discovery, the pool's drive loop, and dispatch.

Dispatch follows the seed's worker. It takes one request at a time, waits for the pool to
select a ready endpoint under the failfast deadline, binds the request to it and hands the
bound call back to the caller, who awaits it in its own task. When the deadline passes,
the gate shuts, that request and every queued one fail with `FailFastError`, and the
worker waits, with no deadline, for the pool to become ready again; then the gate opens.

Discovery runs in its own task, so updates are applied the moment they arrive, whether
or not requests flow: an idle queue never hoards them.

A failure of discovery or of the pool is terminal. The worker stores the error in the
gate *first*, then cancels its tasks, then fails the request it holds and everything
queued, then closes the channel: a caller that arrives at any point sees the same error.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Generic, NoReturn, TypeVar

import attrs
import trio

from .._close import close_within
from .._errors import PoolClosedError, PoolError, UnavailableError
from .._pool import Pool, apply_update
from .._update import Update
from ._backlog import Backlog
from ._dispatch import Dispatch, describe_pool
from ._gate import Gate
from ._message import Message
from ._metrics import QueueMetrics

__all__ = ["Worker"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")

logger = logging.getLogger("trio_pool.queue")

# How long an async-generator discovery source gets to run its cleanup on exit.
_DISCOVERY_CLOSE_GRACE = 1.0


@attrs.define(eq=False)
class Worker(Generic[Req, Rsp]):
    _pool: Pool[Any, Any, Req, Rsp]
    _discovery: AsyncIterable[Update]
    _receive: trio.MemoryReceiveChannel[Message[Req, Rsp]]
    _gate: Gate
    _backlog: Backlog
    _metrics: QueueMetrics
    _wait_for_ready: bool = True
    dispatch: Dispatch[Req, Rsp] = attrs.field(init=False)
    """The select-and-bind step, shared with the callers' fast path."""
    _held: Message[Req, Rsp] | None = attrs.field(default=None, init=False)
    _tasks: trio.Nursery | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self.dispatch = Dispatch(
            self._pool, self._gate, self._metrics, self.terminate, self._wait_for_ready
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run discovery, the pool's drive loop and dispatch until cancelled or terminated."""
        try:
            async with trio.open_nursery() as tasks:
                self._tasks = tasks
                tasks.start_soon(self._run_discovery, name="trio_pool discovery")
                tasks.start_soon(self._run_drive, name="trio_pool drive")
                tasks.start_soon(self._run_dispatch, name="trio_pool dispatch")
                task_status.started()
        finally:
            self._fail_waiting()

    def terminate(self, reason: str, cause: BaseException) -> None:
        """Close the queue for good because of ``cause``; idempotent."""
        if self._gate.close(reason, cause):
            logger.warning("pool queue closed: %s", reason, exc_info=cause)
        else:
            # Say so all the same: a failure while the queue closes (discovery raising
            # in its cleanup as it is cancelled, say) is otherwise seen by no one.
            logger.warning("%s, after the queue closed", reason, exc_info=cause)
        assert self._tasks is not None, "terminate() is only called once run() has started"
        self._tasks.cancel_scope.cancel(reason=reason)

    async def _until_terminated(self) -> NoReturn:
        # terminate() cancelled this task's scope: this checkpoint raises Cancelled.
        await trio.sleep_forever()

    # -- discovery ------------------------------------------------------------------------

    async def _run_discovery(self) -> None:
        # Everything a discovery object does, from __aiter__ to aclose, is the user's
        # code: its errors close the queue (or are logged, once it is closed), and never
        # escape into the block around the queue.
        try:
            updates: AsyncIterator[Update] = aiter(self._discovery)
        except Exception as exc:
            self.terminate(f"discovery failed: {exc!r}", exc)
            return
        try:
            await self._apply_updates(updates)
        finally:
            # What the queue made, it closes: an async generator, or an iterator that
            # __aiter__ made anew. An object that is its own iterator (a memory receive
            # channel) stays its owner's to close.
            if inspect.isasyncgen(updates) or updates is not self._discovery:
                await _close_discovery(updates)

    async def _apply_updates(self, updates: AsyncIterator[Update]) -> None:
        while True:
            try:
                update = await anext(updates)
            except StopAsyncIteration:
                logger.debug("discovery ended; the pool keeps its last endpoints")
                return
            except Exception as exc:
                self.terminate(f"discovery failed: {exc!r}", exc)
                return
            try:
                apply_update(self._pool, update)
            except Exception as exc:
                self.terminate(f"applying {update!r} failed: {exc!r}", exc)
                return
            logger.debug("update applied: %r", update)

    # -- the pool's drive loop ------------------------------------------------------------

    async def _run_drive(self) -> None:
        try:
            await self._pool.drive()
        except Exception as exc:
            self.terminate(f"pool.drive() failed: {exc!r}", exc)
            return
        error = RuntimeError("pool.drive() returned; it must run until cancelled")
        self.terminate(str(error), error)

    # -- dispatch -------------------------------------------------------------------------

    async def _run_dispatch(self) -> NoReturn:
        while True:
            message = await self._receive.receive()
            self._backlog.take()
            self._held = message
            if message.reply.abandoned:
                self._finish_held()
                continue
            await self._dispatch(message)

    async def _dispatch(self, message: Message[Req, Rsp]) -> None:
        dispatch = self.dispatch
        try:
            # An endpoint that is ready now needs neither a deadline nor a trip through
            # the scheduler; under load this is the common case.
            if not dispatch.select_nowait():
                # A first attempt that arrived after the latest try of a failing pool's
                # endpoints gets a try of its own; a retry, a hedge, or a request that
                # waited through that try, shares the try's outcome.
                retry_failed = message.first and message.tries_failed == dispatch.tries_failed
                with trio.move_on_after(self._gate.failfast_timeout) as deadline:
                    failure = await dispatch.select(retry_failed=retry_failed)
                if deadline.cancelled_caught:
                    failure = dispatch.failing()
                    if failure is None:
                        await self._failfast()
                        return
                if failure is not None:
                    if retry_failed:
                        dispatch.tries_failed += 1
                    self._finish_held(self._unavailable(failure))
                    return
        except PoolClosedError:
            await self._until_terminated()  # the pool failed: the queue is closed
        if message.reply.abandoned:
            # The caller left while the pool got ready; the selection is simply unused.
            self._finish_held()
            return
        waited = trio.current_time() - message.enqueued_at
        address = None
        try:
            if message.avoid is None:
                bound = dispatch.bind(message.request, waited)
            else:
                bound, address = dispatch.bind_avoiding(message.request, waited, message.avoid)
        except Exception as exc:
            # The request's own failure (an endpoint whose call() raised at once), not
            # the pool's: it fails that request, as the same error raised later would.
            self._finish_held()
            message.reply.send_error(exc)
            return
        self._finish_held()
        message.reply.send_call(bound, address)

    def _unavailable(self, failure: BaseException) -> UnavailableError:
        # One error per caller, as for failfast.
        detail, _ = describe_pool(self._pool)
        error = UnavailableError.failing(detail)
        error.__cause__ = failure
        return error

    def _finish_held(self, error: PoolError | None = None) -> None:
        held, self._held = self._held, None
        assert held is not None, "the worker finishes only a request it holds"
        self._backlog.finish()
        if error is not None:
            held.reply.send_error(error)

    async def _failfast(self) -> None:
        gate = self._gate
        gate.shut()
        self._finish_held(gate.failfast_failure())
        self._drain(gate.failfast_failure)
        await self.dispatch.select()  # raises PoolClosedError if the pool fails
        gate.open()

    def _drain(self, failure: Callable[[], PoolError]) -> None:
        # receive_nowait also admits callers blocked in send(), so this empties the queue
        # and its waiting senders alike.
        while True:
            try:
                message = self._receive.receive_nowait()
            except trio.WouldBlock:
                return
            self._backlog.take()
            self._backlog.finish()
            message.reply.send_error(failure())

    def _fail_waiting(self) -> None:
        gate = self._gate
        # Normally the gate is closed already (terminate, or the block was left); if a bug
        # brought us here, close it now so no caller waits forever.
        gate.close("the pool queue stopped", None)
        if self._held is not None:
            self._finish_held(gate.closed_failure())
        self._drain(gate.closed_failure)
        self._receive.close()


async def _close_discovery(updates: AsyncIterator[Update]) -> None:
    """Close a discovery iterator that has ``aclose()``, within a grace period.

    A failure or a hang there is logged and cut short, never raised into the block.
    """
    await close_within(updates, _DISCOVERY_CLOSE_GRACE, "the discovery stream", logger)
