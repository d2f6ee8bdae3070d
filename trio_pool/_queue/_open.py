"""`open_pool_queue`: the entry point that owns the queue's tasks."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import trio

from .._nursery import raise_single
from .._pool import Pool
from .._resilience import Hedging, RetryPolicy
from .._update import Update
from .._validate import check_flag, check_seconds
from ._backlog import Backlog
from ._dispatch import describe_pool
from ._gate import Gate
from ._handle import PoolQueue
from ._message import Message
from ._metrics import QueueMetrics
from ._worker import Worker

__all__ = ["open_pool_queue"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")

# How long the pool gets to close its endpoints when the block is left.
_POOL_CLOSE_GRACE = 5.0

_POOL_METHODS = (
    "reset_pool",
    "add_endpoint",
    "remove_endpoint",
    "drive",
    "ready",
    "call",
    "aclose",
)


@asynccontextmanager
async def open_pool_queue(
    pool: Pool[Any, Any, Req, Rsp],
    discovery: AsyncIterable[Update],
    *,
    capacity: int = 100,
    failfast_timeout: float = 3.0,
    metrics: QueueMetrics | None = None,
    retry: RetryPolicy | None = None,
    hedging: Hedging | None = None,
    wait_for_ready: bool = True,
) -> AsyncIterator[PoolQueue[Req, Rsp]]:
    """Put a bounded queue in front of ``pool``, fed by ``discovery``; yield its handle.

    Inside the block, three tasks run in a nursery of the queue's own: one applies each
    discovery update to the pool the moment it arrives (idle or not), one runs
    ``pool.drive()``, and one dispatches queued requests. Nothing outlives the block.

    - ``discovery`` is any async iterable of updates: a memory receive channel, an async
      generator, a built-in source. Its end is normal: the pool keeps its last endpoints.
    - ``capacity`` requests wait in the queue; then callers wait for room.
    - ``failfast_timeout``: when the worker holds a request and the pool has had no ready
      endpoint for this long, that request and every queued one fail with
      `FailFastError`, and so does every new call until the pool is ready again.
    - ``metrics``: children from `QueueMetricFamilies.labels`, or ``None``.
    - ``retry``: a `RetryPolicy` for every call (``None``: each request is sent once).
    - ``hedging``: a `Hedging` for every call (``None``: no hedged requests).
    - ``wait_for_ready``: whether a call waits (up to ``failfast_timeout``) while every
      endpoint of the pool is failing. With ``False`` (gRPC's calls without
      wait-for-ready), a call does not wait for a failing pool, whose endpoints each
      failed their latest try to become ready, none being ready or on its first try:
      it fails with `UnavailableError` (the last endpoint error as ``__cause__``). A
      call that arrives while the pool is failing first has the failed endpoints tried
      again at once, their backoff cut short, and fails only if those tries fail, so a
      caller gets a try of its own as it would with no balancer; a retry or a hedge, or
      a call that waited through such a try, fails at once. The failfast timeout still
      bounds the wait for a pool that has no endpoint yet, or endpoints on their first
      try. It takes the pool's ``failing()`` and ``ready_or_failing()`` (the shipped
      pools have them; see `Pool`); with a pool that lacks them, calls wait.

    With ``retry`` or ``hedging``, the queue keeps the balance of their budgets and its
    recent latency: one per queue, that is per destination, however many queues share
    the policies. See the resilience guide for how they combine.

    If discovery raises, the pool raises, or discovery yields something that is not an
    update, the queue closes: queued and later calls raise `PoolClosedError` with that
    error as ``__cause__``. That does not raise out of the block;
    ``queue.wait_closed()`` lets the application react.

    Leaving the block closes the queue (waiting callers get `PoolClosedError`), cancels
    the tasks, and awaits ``pool.aclose()``, shielded, for at most
    5 seconds. A single exception from the body propagates as itself, never wrapped in
    an ``ExceptionGroup``; several at once (a bug in trio-pool beside one in the body)
    propagate as a group.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int, got {capacity!r}")
    if capacity < 0:
        raise ValueError(f"capacity must be >= 0, got {capacity}")
    failfast_timeout = check_seconds("failfast_timeout", failfast_timeout, infinite=True)
    missing = [name for name in _POOL_METHODS if not callable(getattr(pool, name, None))]
    if missing:
        raise TypeError(
            f"pool must implement the Pool protocol; {type(pool).__name__} lacks "
            + ", ".join(f"{name}()" for name in missing)
        )
    if not isinstance(discovery, AsyncIterable):
        raise TypeError(
            f"discovery must be an async iterable of updates, got {type(discovery).__name__}"
        )
    if metrics is None:
        metrics = QueueMetrics.disabled()
    elif not isinstance(metrics, QueueMetrics):
        raise TypeError(
            f"metrics must come from QueueMetricFamilies.labels(), got {type(metrics).__name__}"
        )

    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {type(retry).__name__}")
    if hedging is not None and not isinstance(hedging, Hedging):
        raise TypeError(f"hedging must be a Hedging or None, got {type(hedging).__name__}")
    check_flag("wait_for_ready", wait_for_ready)

    send, receive = trio.open_memory_channel[Message[Req, Rsp]](capacity)
    gate = Gate(failfast_timeout, metrics, partial(describe_pool, pool))
    backlog = Backlog(metrics.length)
    worker = Worker(pool, discovery, receive, gate, backlog, metrics, wait_for_ready)
    queue = PoolQueue(
        send, gate, backlog, worker.dispatch, metrics, capacity, retry=retry, hedging=hedging
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            try:
                yield queue
            finally:
                gate.close("the open_pool_queue block was left", None)
                nursery.cancel_scope.cancel(reason="the open_pool_queue block was left")
    except BaseExceptionGroup as group:
        raise_single(group)
    finally:
        await _close_pool(pool)


async def _close_pool(pool: Pool[Any, Any, Any, Any]) -> None:
    with trio.move_on_after(_POOL_CLOSE_GRACE, shield=True):
        await pool.aclose()
